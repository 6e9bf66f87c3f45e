/** In-memory implementations of the core's ports, for unit tests of the core. */
import type { Keysource } from '../../lambda/core/config/schema.js';
import type { ConfigStore, ReadOptions, SecretSource } from '../../lambda/core/ports.js';

export class MemoryConfigStore implements ConfigStore {
  public readonly reads: string[][] = [];
  public constructor(private readonly items: Record<string, unknown> = {}) {}
  public put(item: { scope: string } & Record<string, unknown>): void {
    this.items[item.scope] = item;
  }
  public async getItems(scopes: readonly string[]): Promise<ReadonlyMap<string, unknown>> {
    this.reads.push([...scopes]);
    const out = new Map<string, unknown>();
    for (const scope of scopes) if (this.items[scope] !== undefined) out.set(scope, this.items[scope]);
    return out;
  }
}

export class MemorySecretSource implements SecretSource {
  public readonly calls: { ref: Keysource; forceRefresh: boolean }[] = [];
  public constructor(public readonly secrets: Record<string, string> = {}) {}
  public async read(ref: Keysource, options?: ReadOptions): Promise<string> {
    this.calls.push({ ref, forceRefresh: options?.forceRefresh ?? false });
    const name = 'secret' in ref ? ref.secret : 'parameter' in ref ? ref.parameter : 'env' in ref ? ref.env : undefined;
    if (name === undefined) return (ref as { value: string }).value;
    const value = this.secrets[name];
    if (value === undefined) throw new Error(`no secret ${name}`);
    return value;
  }
}

import type { ClaimOptions, ClaimResult, DeadLetterQueue, DeadLetterReason, DeliveryRecord, IdempotencyStore } from '../../lambda/core/ports.js';

/** IdempotencyStore in memory, with the same claim rules as the DynamoDB one. */
export class MemoryIdempotencyStore implements IdempotencyStore {
  public readonly records = new Map<string, DeliveryRecord & { leaseUntil?: number }>();
  public async claim(key: string, leaseMs: number, options: ClaimOptions = {}): Promise<ClaimResult> {
    const current = this.records.get(key);
    if (current?.status === 'delivered') return { outcome: 'duplicate', previous: current };
    if (current?.status === 'dead-lettered' && !options.redrive) return { outcome: 'duplicate', previous: current };
    // Like the DynamoDB store: a dead-lettered key is not taken back by a redrive of an entry redriven before.
    const entry = options.redrive ? options.redriveOf : undefined;
    if (current?.status === 'dead-lettered' && entry !== undefined && current.redrivenEntries?.includes(entry)) return { outcome: 'duplicate', previous: current };
    if (current?.status === 'in-progress' && (current.leaseUntil ?? 0) > Date.now()) return { outcome: 'busy' };
    const redrivenEntries = entry === undefined ? current?.redrivenEntries : [...new Set([...(current?.redrivenEntries ?? []), entry])];
    // Like the UpdateItem: everything but status and lease is kept (the failure, the round).
    this.records.set(key, { ...current, status: 'in-progress', delivered: current?.delivered ?? [], failed: current?.failed ?? [], leaseUntil: Date.now() + leaseMs, ...(redrivenEntries !== undefined && { redrivenEntries }) });
    return { outcome: 'claimed', previous: current };
  }
  public async settle(key: string, record: Parameters<IdempotencyStore['settle']>[1]): Promise<void> {
    // The DynamoDB store's UpdateItem keeps the redriven entries whatever the record says.
    const redrivenEntries = this.records.get(key)?.redrivenEntries;
    this.records.set(key, { ...record, ...(redrivenEntries !== undefined && { redrivenEntries }) });
  }
}

export class MemoryDeadLetterQueue implements DeadLetterQueue {
  public readonly entries: { body: string; reason: DeadLetterReason }[] = [];
  public failWith: Error | undefined;
  public async send(body: string, reason: DeadLetterReason): Promise<boolean> {
    if (this.failWith) throw this.failWith;
    this.entries.push({ body, reason });
    return true;
  }
}
