/**
 * A Map with a maximum size that forgets the least recently used entry first. What the worker
 * caches is keyed by what messages say (bindings, recipient domains, secret names), so every
 * cache must stay bounded whatever they say (docs/design.md §3).
 */
export class LruCache<K, V> {
  private readonly entries = new Map<K, V>();

  /** @param maxEntries at least 1 */
  public constructor(public readonly maxEntries: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError(`LruCache: maxEntries must be an integer >= 1 (got ${maxEntries})`);
  }

  public get size(): number {
    return this.entries.size;
  }

  /** The value, marked as just used; undefined when absent. */
  public get(key: K): V | undefined {
    if (!this.entries.has(key)) return undefined;
    const value = this.entries.get(key) as V;
    // A Map iterates in insertion order: re-inserting moves the key to the young end.
    this.entries.delete(key);
    this.entries.set(key, value);
    return value;
  }

  public has(key: K): boolean {
    return this.entries.has(key);
  }

  /** Store `value`; the least recently used entries go when the cache is over its size. */
  public set(key: K, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as K;
      this.entries.delete(oldest);
    }
  }

  public delete(key: K): boolean {
    return this.entries.delete(key);
  }

  /** The keys, least recently used first. */
  public keys(): IterableIterator<K> {
    return this.entries.keys();
  }

  public clear(): void {
    this.entries.clear();
  }
}
