/**
 * RouteHealth on the relay-state table (partition key `pk` = `suspension#<host:port>`, TTL
 * attribute `expiresAt`): the suspensions every sandbox of the fleet reads. Reads are cached for a
 * few seconds, so a healthy fleet costs no call per message; writes happen only when a relay
 * refuses (a consistent read, then a write conditional on what was read, so exactly one sandbox
 * starts each suspension and logs it) and when a probe succeeds (one delete).
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  DEFAULT_SUSPENSION_POLICY,
  stateOf,
  suspensionAfter,
  type RefusalReport,
  type RelayCheck,
  type RelaySuspension,
  type RouteHealth,
  type SuspensionPolicy,
} from '../core/routeHealth.js';
import { classifyAwsError } from './awsErrors.js';

export interface DynamoRouteHealthOptions {
  readonly client: Pick<DynamoDBDocumentClient, 'send'>;
  readonly tableName: string;
  readonly policy?: SuspensionPolicy;
  /** How long a read is trusted. 0 reads every time. @default 5_000 */
  readonly cacheTtlMs?: number;
  /** Relays remembered in the read cache; the oldest entry goes first. @default 1_000 */
  readonly maxCachedRelays?: number;
  readonly now?: () => number;
}

/** Items outlive their suspension by a day, then DynamoDB's TTL removes them. */
const ITEM_RETENTION_MS = 86_400_000;

export const suspensionKey = (relay: string): string => `suspension#${relay}`;

export class DynamoRouteHealth implements RouteHealth {
  private readonly cache = new Map<string, { value: RelaySuspension | undefined; expires: number }>();
  /**
   * Relays whose probe this sandbox holds, with the `until` of the suspension it probed: their
   * success ends exactly that suspension, whatever the cache says (bounded by the read cache's size).
   */
  private readonly probing = new Map<string, number>();
  private readonly policy: SuspensionPolicy;
  private readonly ttl: number;
  private readonly maxCached: number;
  private readonly now: () => number;

  public constructor(private readonly options: DynamoRouteHealthOptions) {
    this.policy = options.policy ?? DEFAULT_SUSPENSION_POLICY;
    this.ttl = options.cacheTtlMs ?? 5_000;
    this.maxCached = options.maxCachedRelays ?? 1_000;
    this.now = options.now ?? Date.now;
  }

  public async check(relay: string): Promise<RelayCheck> {
    const now = this.now();
    let suspension = await this.cached(relay, now);
    let state = stateOf(suspension, now);
    if (state === 'probe-due') {
      if (await this.claimProbe(relay, now)) {
        const claimed = { ...suspension!, probeUntil: now + this.policy.probeMs };
        this.remember(relay, claimed, now);
        if (this.probing.size >= this.maxCached) this.probing.delete(this.probing.keys().next().value!);
        this.probing.set(relay, claimed.until);
        return { state: 'probe', suspension: claimed };
      }
      // Someone else probes, or the relay recovered meanwhile: read what is true now.
      suspension = await this.read(relay, now, true);
      state = stateOf(suspension, now);
    }
    if (state === 'open' || !suspension) return { state: 'open' };
    const until = state === 'probing' || state === 'probe-due' ? (suspension.probeUntil ?? now + this.policy.probeMs) : suspension.until;
    return { state: 'suspended', until, suspension };
  }

  public async refused(relay: string, failure: RefusalReport, attempt = 0): Promise<{ suspension: RelaySuspension; started: boolean }> {
    const now = this.now();
    this.probing.delete(relay);
    const previous = await this.read(relay, now, true);
    if (previous && previous.until > now) return { suspension: previous, started: false };
    const suspension = suspensionAfter(previous, relay, failure, this.policy, now);
    try {
      await this.options.client.send(
        new PutCommand({
          TableName: this.options.tableName,
          Item: { pk: suspensionKey(relay), ...withoutUndefined(suspension), expiresAt: Math.floor((suspension.until + ITEM_RETENTION_MS) / 1000) },
          // Only over the state this sandbox read: of two sandboxes that saw the same expired
          // suspension fail, one starts the next and the other reads it.
          ConditionExpression: previous ? '#until = :seen' : 'attribute_not_exists(pk)',
          ...(previous ? { ExpressionAttributeNames: { '#until': 'until' }, ExpressionAttributeValues: { ':seen': previous.until } } : {}),
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw classifyAwsError(error, `suspending ${relay} in ${this.options.tableName}`);
      const current = await this.read(relay, now, true);
      if (current) return { suspension: current, started: false };
      // The state this sandbox read was deleted meanwhile (a probe elsewhere succeeded): the relay
      // just refused again, so start afresh rather than report a suspension nobody stored.
      return attempt > 0 ? { suspension, started: false } : this.refused(relay, failure, attempt + 1);
    }
    this.remember(relay, suspension, now);
    return { suspension, started: true };
  }

  public async recovered(relay: string): Promise<void> {
    const now = this.now();
    // A healthy relay costs nothing: only a suspension this sandbox knows of is deleted, and only
    // that one — a newer suspension another sandbox started meanwhile stays.
    const seen = this.probing.get(relay) ?? this.cache.get(relay)?.value?.until;
    if (seen === undefined) return;
    this.probing.delete(relay);
    try {
      await this.options.client.send(
        new DeleteCommand({
          TableName: this.options.tableName,
          Key: { pk: suspensionKey(relay) },
          ConditionExpression: '#until = :seen',
          ExpressionAttributeNames: { '#until': 'until' },
          ExpressionAttributeValues: { ':seen': seen },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw classifyAwsError(error, `ending the suspension of ${relay} in ${this.options.tableName}`);
      this.cache.delete(relay);
      return;
    }
    this.remember(relay, undefined, now);
  }

  /** Every stored suspension (`mailrelay routes`). */
  public async get(relay: string): Promise<RelaySuspension | undefined> {
    return this.read(relay, this.now(), true);
  }

  private async cached(relay: string, now: number): Promise<RelaySuspension | undefined> {
    const hit = this.cache.get(relay);
    if (hit && hit.expires > now) return hit.value;
    return this.read(relay, now, false);
  }

  private async read(relay: string, now: number, consistent: boolean): Promise<RelaySuspension | undefined> {
    let item: Record<string, unknown> | undefined;
    try {
      const response = await this.options.client.send(
        new GetCommand({ TableName: this.options.tableName, Key: { pk: suspensionKey(relay) }, ConsistentRead: consistent }),
      );
      item = response.Item;
    } catch (error) {
      throw classifyAwsError(error, `reading the state of ${relay} in ${this.options.tableName}`);
    }
    const value = toSuspension(relay, item);
    this.remember(relay, value, now);
    return value;
  }

  private async claimProbe(relay: string, now: number): Promise<boolean> {
    try {
      await this.options.client.send(
        new UpdateCommand({
          TableName: this.options.tableName,
          Key: { pk: suspensionKey(relay) },
          UpdateExpression: 'SET probeUntil = :probe',
          ConditionExpression: '#until <= :now AND (attribute_not_exists(probeUntil) OR probeUntil <= :now)',
          ExpressionAttributeNames: { '#until': 'until' },
          ExpressionAttributeValues: { ':now': now, ':probe': now + this.policy.probeMs },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw classifyAwsError(error, `claiming the probe of ${relay} in ${this.options.tableName}`);
    }
  }

  private remember(relay: string, value: RelaySuspension | undefined, now: number): void {
    this.cache.delete(relay);
    if (this.cache.size >= this.maxCached) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(relay, { value, expires: now + this.ttl });
  }
}

function toSuspension(relay: string, item: Record<string, unknown> | undefined): RelaySuspension | undefined {
  if (!item || typeof item['until'] !== 'number' || typeof item['intervalMs'] !== 'number') return undefined;
  return {
    relay,
    until: item['until'],
    intervalMs: item['intervalMs'],
    reason: typeof item['reason'] === 'string' ? item['reason'] : 'unknown',
    detail: typeof item['detail'] === 'string' ? item['detail'] : undefined,
    since: typeof item['since'] === 'number' ? item['since'] : item['until'] - item['intervalMs'],
    probeUntil: typeof item['probeUntil'] === 'number' ? item['probeUntil'] : undefined,
  };
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function isConditionFailure(error: unknown): boolean {
  return error instanceof ConditionalCheckFailedException || (error as Error)?.name === 'ConditionalCheckFailedException';
}
