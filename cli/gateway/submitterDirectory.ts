/**
 * Finds `submitter#<name>` items in the config table and checks passwords against their
 * keysources. Both are cached for a short TTL (bounded: unknown names are not cached, so a guesser
 * cannot fill memory), and a wrong password re-reads the secret once, because passwords rotate.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { parseSubmitterItem, submitterScope, SUBMITTER_NAME_PATTERN, type SubmitterItem } from '../../lambda/core/config/submitter.js';
import { resolveKeysource } from '../../lambda/core/keysources.js';
import type { ConfigStore, SecretSource } from '../../lambda/core/ports.js';
import { SUBMITTER_CACHE_TTL_MS } from './constants.js';

/** At most this many submitters are cached at once. */
const MAX_CACHED_SUBMITTERS = 1_000;

export interface SubmitterDirectoryOptions {
  readonly config: ConfigStore;
  readonly secrets: SecretSource;
  /** @default SUBMITTER_CACHE_TTL_MS (60 s) */
  readonly cacheTtlMs?: number;
  readonly now?: () => number;
}

export type PasswordCheck =
  | { readonly outcome: 'valid'; readonly submitter: SubmitterItem }
  /** Unknown submitter or wrong password: the client is told nothing more than 535. */
  | { readonly outcome: 'invalid'; readonly why: 'unknown-submitter' | 'wrong-password' | 'invalid-submitter-item' }
  /** The config table or the secret could not be read: 454, try again later. */
  | { readonly outcome: 'unavailable'; readonly detail: string };

export class SubmitterDirectory {
  private readonly cache = new Map<string, { item: SubmitterItem; expires: number }>();
  private readonly ttl: number;
  private readonly now: () => number;

  public constructor(private readonly options: SubmitterDirectoryOptions) {
    this.ttl = options.cacheTtlMs ?? SUBMITTER_CACHE_TTL_MS;
    this.now = options.now ?? Date.now;
  }

  /**
   * Check `password` for the submitter `name`. Never throws for a problem of the credentials.
   * @example
   * const check = await directory.checkPassword('app1', 's3cret');
   * if (check.outcome === 'valid') check.submitter.binding; // 'acme'
   */
  public async checkPassword(name: string, password: string): Promise<PasswordCheck> {
    if (!SUBMITTER_NAME_PATTERN.test(name)) {
      burnComparison(password);
      return { outcome: 'invalid', why: 'unknown-submitter' };
    }
    let found: SubmitterItem | 'unknown' | 'invalid';
    try {
      found = await this.find(name);
    } catch (error) {
      return { outcome: 'unavailable', detail: `config table: ${describe(error)}` };
    }
    if (found === 'unknown' || found === 'invalid') {
      burnComparison(password);
      return { outcome: 'invalid', why: found === 'unknown' ? 'unknown-submitter' : 'invalid-submitter-item' };
    }
    try {
      if (await this.matches(found, password, false)) return { outcome: 'valid', submitter: found };
      // The secret may have rotated since it was cached: read it once more before saying no.
      if (await this.matches(found, password, true)) return { outcome: 'valid', submitter: found };
    } catch (error) {
      return { outcome: 'unavailable', detail: `password keysource: ${describe(error)}` };
    }
    return { outcome: 'invalid', why: 'wrong-password' };
  }

  private async find(name: string): Promise<SubmitterItem | 'unknown' | 'invalid'> {
    const hit = this.cache.get(name);
    if (hit && hit.expires > this.now()) return hit.item;
    const scope = submitterScope(name);
    const items = await this.options.config.getItems([scope]);
    const raw = items.get(scope);
    if (raw === undefined) return 'unknown';
    let item: SubmitterItem;
    try {
      item = parseSubmitterItem(raw);
    } catch {
      return 'invalid';
    }
    if (this.ttl > 0) {
      this.cache.delete(name);
      this.cache.set(name, { item, expires: this.now() + this.ttl });
      while (this.cache.size > MAX_CACHED_SUBMITTERS) this.cache.delete(this.cache.keys().next().value as string);
    }
    return item;
  }

  private async matches(item: SubmitterItem, password: string, forceRefresh: boolean): Promise<boolean> {
    const { secret } = await resolveKeysource(item.password, this.options.secrets, { forceRefresh });
    return constantTimeEquals(password, secret);
  }
}

/**
 * Compares two strings in time that depends on neither: both are hashed first, so even their
 * lengths stay hidden, then compared with `timingSafeEqual`.
 */
export function constantTimeEquals(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/** The same work as a real comparison, so an unknown name costs what a wrong password does. */
function burnComparison(password: string): void {
  constantTimeEquals(password, 'mailrelay-no-such-submitter');
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
