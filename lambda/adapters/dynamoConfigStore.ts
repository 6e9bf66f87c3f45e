/**
 * ConfigStore on the DynamoDB config table (partition key `scope`). Reads the scopes a message
 * needs in one BatchGetItem and caches each scope, absent ones too, for a TTL: config changes
 * take effect within `cacheTtlMs` without a redeploy. Messages choose which scopes are looked up
 * (bindings, recipient domains), so the cache holds at most `maxCacheEntries` scopes, present or
 * absent, and forgets the least recently used first.
 */
import { BatchGetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { LruCache } from '../core/lruCache.js';
import type { ConfigStore } from '../core/ports.js';
import { CONFIG_TABLE_PARTITION_KEY } from '../core/names.js';
import { classifyAwsError } from './awsErrors.js';

export interface DynamoConfigStoreOptions {
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
  /** How long an item (or its absence) is cached. 0 disables the cache. @default 60_000 */
  readonly cacheTtlMs?: number;
  /** Scopes (present or absent) kept in the cache at most. @default 1_000 */
  readonly maxCacheEntries?: number;
  readonly now?: () => number;
}

/** Enough for every item of a large deployment plus the scopes of recent messages. */
export const DEFAULT_CONFIG_CACHE_ENTRIES = 1_000;

/** BatchGetItem takes at most 100 keys; UnprocessedKeys are retried this many times. */
const MAX_KEYS_PER_BATCH = 100;
const MAX_UNPROCESSED_ROUNDS = 5;

export class DynamoConfigStore implements ConfigStore {
  private readonly cache: LruCache<string, { value: unknown; expires: number }>;
  private readonly ttl: number;
  private readonly now: () => number;

  public constructor(private readonly options: DynamoConfigStoreOptions) {
    this.ttl = options.cacheTtlMs ?? 60_000;
    this.now = options.now ?? Date.now;
    this.cache = new LruCache(options.maxCacheEntries ?? DEFAULT_CONFIG_CACHE_ENTRIES);
  }

  /** Scopes cached right now, present or absent (at most `maxCacheEntries`). */
  public get cacheSize(): number {
    return this.cache.size;
  }

  public async getItems(scopes: readonly string[]): Promise<ReadonlyMap<string, unknown>> {
    const result = new Map<string, unknown>();
    const missing: string[] = [];
    const now = this.now();
    for (const scope of new Set(scopes)) {
      const hit = this.cache.get(scope);
      if (hit && hit.expires > now) {
        if (hit.value !== undefined) result.set(scope, hit.value);
      } else {
        missing.push(scope);
      }
    }
    for (let i = 0; i < missing.length; i += MAX_KEYS_PER_BATCH) {
      const chunk = missing.slice(i, i + MAX_KEYS_PER_BATCH);
      const found = await this.fetch(chunk);
      for (const scope of chunk) {
        const value = found.get(scope);
        if (this.ttl > 0) this.cache.set(scope, { value, expires: this.now() + this.ttl });
        if (value !== undefined) result.set(scope, value);
      }
    }
    return result;
  }

  /** Forget cached items (the CLI after a write; tests). */
  public clearCache(): void {
    this.cache.clear();
  }

  private async fetch(scopes: string[]): Promise<Map<string, unknown>> {
    const found = new Map<string, unknown>();
    let keys: Record<string, unknown>[] = scopes.map((scope) => ({ [CONFIG_TABLE_PARTITION_KEY]: scope }));
    for (let round = 0; keys.length > 0; round++) {
      if (round >= MAX_UNPROCESSED_ROUNDS) {
        throw classifyAwsError(Object.assign(new Error('BatchGetItem kept returning UnprocessedKeys'), { name: 'ThrottlingException' }), 'reading config');
      }
      let response;
      try {
        response = await this.options.client.send(new BatchGetCommand({ RequestItems: { [this.options.tableName]: { Keys: keys } } }));
      } catch (error) {
        throw classifyAwsError(error, `reading config table ${this.options.tableName}`);
      }
      for (const item of response.Responses?.[this.options.tableName] ?? []) {
        const scope = item[CONFIG_TABLE_PARTITION_KEY];
        if (typeof scope === 'string') found.set(scope, item);
      }
      keys = (response.UnprocessedKeys?.[this.options.tableName]?.Keys as Record<string, unknown>[] | undefined) ?? [];
    }
    return found;
  }
}
