/**
 * RelayLimiter on the relay-state table (partition key `pk`, TTL attribute `expiresAt`), the table
 * that holds the fleet's suspensions:
 * - `lease#<host:port>[#user]#<slot>`: one item per connection slot (slot < maxConnections), taken
 *   with a conditional put (free, or lapsed), renewed and released only by its holder.
 * - `rate#<host:port>[#user]`: the GCRA arrival time `tat` (epoch ms) and the throttle state
 *   (`throttleLevel`, `throttledAt`). One conditional update per rate decision: the branch is
 *   chosen from the last value this sandbox saw, and only when another sandbox moved the value
 *   meanwhile is it read and tried again (at most {@link MAX_RATE_TRIES} updates).
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { randomUUID } from 'node:crypto';
import {
  currentLevel,
  DEFAULT_LIMITER_POLICY,
  gcra,
  throttleAfter,
  type ConnectionLease,
  type LeaseResult,
  type LimiterPolicy,
  type RelayLimiter,
  type ThrottleState,
  type TokenGrant,
} from '../core/relayLimiter.js';
import { classifyAwsError } from './awsErrors.js';

export interface DynamoRelayLimiterOptions {
  readonly client: Pick<DynamoDBDocumentClient, 'send'>;
  readonly tableName: string;
  readonly policy?: LimiterPolicy;
  readonly now?: () => number;
}

export const leaseKey = (key: string, slot: number): string => `lease#${key}#${slot}`;
export const rateKey = (key: string): string => `rate#${key}`;

const MAX_RATE_TRIES = 3;
/** Rate items outlive their last use by a day, then DynamoDB's TTL removes them. */
const RATE_RETENTION_MS = 86_400_000;

interface RateView {
  tat: number | undefined;
  throttle: ThrottleState | undefined;
}

export class DynamoRelayLimiter implements RelayLimiter {
  private readonly policy: LimiterPolicy;
  private readonly now: () => number;
  /** What this sandbox last saw of each rate item. */
  private readonly seen = new Map<string, RateView>();
  private readonly sandbox = randomUUID();
  private serial = 0;
  public calls = 0;

  public constructor(private readonly options: DynamoRelayLimiterOptions) {
    this.policy = options.policy ?? DEFAULT_LIMITER_POLICY;
    this.now = options.now ?? Date.now;
  }

  public async acquireLease(key: string, maxConnections: number): Promise<LeaseResult> {
    const now = this.now();
    const holder = `${this.sandbox}/${++this.serial}`;
    const start = Math.floor(Math.random() * maxConnections);
    let soonest = Number.POSITIVE_INFINITY;
    for (let i = 0; i < maxConnections; i++) {
      const slot = (start + i) % maxConnections;
      const expiresAt = now + this.policy.leaseTtlMs;
      try {
        await this.send(
          new PutCommand({
            TableName: this.options.tableName,
            Item: { pk: leaseKey(key, slot), holder, leaseExpiresAt: expiresAt, expiresAt: Math.ceil(expiresAt / 1000) + 60 },
            ConditionExpression: 'attribute_not_exists(pk) OR leaseExpiresAt < :now',
            ExpressionAttributeValues: { ':now': now },
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
          `taking a connection lease of ${key}`,
        );
        return { granted: true, lease: { key, slot, holder, expiresAt, ttlMs: this.policy.leaseTtlMs } };
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
        const held = conditionItem(error)?.['leaseExpiresAt'];
        if (typeof held === 'number') soonest = Math.min(soonest, held);
      }
    }
    const retryAfterMs = Number.isFinite(soonest) ? Math.min(Math.max(soonest - now, 250), this.policy.leaseTtlMs) : Math.min(1_000, this.policy.leaseTtlMs);
    return { granted: false, retryAfterMs };
  }

  public async renewLease(lease: ConnectionLease): Promise<boolean> {
    const expiresAt = this.now() + this.policy.leaseTtlMs;
    try {
      await this.send(
        new UpdateCommand({
          TableName: this.options.tableName,
          Key: { pk: leaseKey(lease.key, lease.slot) },
          UpdateExpression: 'SET leaseExpiresAt = :until, expiresAt = :ttl',
          ConditionExpression: 'holder = :me',
          ExpressionAttributeValues: { ':until': expiresAt, ':ttl': Math.ceil(expiresAt / 1000) + 60, ':me': lease.holder },
        }),
        `renewing a connection lease of ${lease.key}`,
      );
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
    lease.expiresAt = expiresAt;
    return true;
  }

  public async releaseLease(lease: ConnectionLease): Promise<void> {
    try {
      await this.send(
        new DeleteCommand({
          TableName: this.options.tableName,
          Key: { pk: leaseKey(lease.key, lease.slot) },
          ConditionExpression: 'holder = :me',
          ExpressionAttributeValues: { ':me': lease.holder },
        }),
        `releasing a connection lease of ${lease.key}`,
      );
    } catch (error) {
      // Someone else took the slot after this lease lapsed: nothing of ours to release.
      if (!isConditionFailure(error)) throw error;
    }
  }

  public async takeTokens(key: string, messagesPerSecond: number, count: number): Promise<TokenGrant> {
    let view = this.seen.get(key) ?? { tat: undefined, throttle: undefined };
    for (let attempt = 1; ; attempt++) {
      const now = this.now();
      const exact = gcra(view.tat, now, messagesPerSecond, count);
      if (exact.granted === 0) return exact;
      // Stored in whole milliseconds, rounded up: the compare-and-set below matches exactly, and rounding never speeds the relay up.
      const decision = { ...exact, tat: Math.ceil(exact.tat) };
      const idle = view.tat === undefined || view.tat <= now;
      try {
        const response = await this.send(
          new UpdateCommand({
            TableName: this.options.tableName,
            Key: { pk: rateKey(key) },
            // From an idle relay the arrival time restarts at now; from a busy one it moves on by
            // the messages taken — in both cases only if it is still what this sandbox saw.
            UpdateExpression: 'SET tat = :tat, expiresAt = :ttl',
            ConditionExpression: idle ? 'attribute_not_exists(tat) OR tat <= :now' : 'tat = :seen',
            ExpressionAttributeValues: {
              ':tat': decision.tat,
              ':ttl': Math.ceil((decision.tat + RATE_RETENTION_MS) / 1000),
              ...(idle ? { ':now': now } : { ':seen': view.tat }),
            },
            ReturnValues: 'ALL_NEW',
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
          `taking from the rate of ${key}`,
        );
        this.remember(key, response.Attributes);
        return decision;
      } catch (error) {
        if (!isConditionFailure(error) || attempt >= MAX_RATE_TRIES) {
          if (isConditionFailure(error)) return { granted: 0, retryAfterMs: 1000 / messagesPerSecond };
          throw error;
        }
        // Another sandbox moved it: learn the value (from the failure, or by reading) and decide again.
        view = this.remember(key, conditionItem(error) ?? (await this.read(key)));
      }
    }
  }

  public async throttled(key: string): Promise<ThrottleState> {
    const now = this.now();
    const previous = (await this.readFresh(key)).throttle;
    const next = throttleAfter(previous, this.policy, now);
    if (!next) return previous!;
    try {
      const response = await this.send(
        new UpdateCommand({
          TableName: this.options.tableName,
          Key: { pk: rateKey(key) },
          UpdateExpression: 'SET throttleLevel = :level, throttledAt = :now, expiresAt = if_not_exists(expiresAt, :ttl)',
          // One step per hold time across the fleet: a storm of 421s is one step, not one per sandbox.
          ConditionExpression: 'attribute_not_exists(throttledAt) OR throttledAt < :held',
          ExpressionAttributeValues: { ':level': next.level, ':now': now, ':held': now - this.policy.holdMs, ':ttl': Math.ceil((now + RATE_RETENTION_MS) / 1000) },
          ReturnValues: 'ALL_NEW',
        }),
        `recording a throttle of ${key}`,
      );
      return this.remember(key, response.Attributes).throttle ?? next;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      return (await this.readFresh(key)).throttle ?? next;
    }
  }

  public throttleLevel(key: string): number {
    return currentLevel(this.seen.get(key)?.throttle, this.policy, this.now());
  }

  /** The stored state of a key (`mailrelay routes`, tests). */
  public async readState(key: string): Promise<RateView> {
    return this.readFresh(key);
  }

  private async readFresh(key: string): Promise<RateView> {
    return this.remember(key, await this.read(key));
  }

  private async read(key: string): Promise<Record<string, unknown> | undefined> {
    const response = await this.send(new GetCommand({ TableName: this.options.tableName, Key: { pk: rateKey(key) }, ConsistentRead: true }), `reading the rate of ${key}`);
    return response.Item;
  }

  private remember(key: string, item: Record<string, unknown> | undefined): RateView {
    const view = rateView(item);
    this.seen.set(key, view);
    return view;
  }

  private async send(command: PutCommand | UpdateCommand | DeleteCommand | GetCommand, what: string): Promise<{ Attributes?: Record<string, unknown>; Item?: Record<string, unknown> }> {
    this.calls += 1;
    try {
      return (await this.options.client.send(command as never)) as { Attributes?: Record<string, unknown>; Item?: Record<string, unknown> };
    } catch (error) {
      if (isConditionFailure(error)) throw error;
      throw classifyAwsError(error, `${what} in ${this.options.tableName}`);
    }
  }
}

export function rateView(item: Record<string, unknown> | undefined): RateView {
  const tat = item?.['tat'];
  const level = item?.['throttleLevel'];
  const since = item?.['throttledAt'];
  return {
    tat: typeof tat === 'number' ? tat : undefined,
    throttle: typeof level === 'number' && typeof since === 'number' ? { level, since } : undefined,
  };
}

/** The item a failed condition returned (ReturnValuesOnConditionCheckFailure), when the service sent it. */
function conditionItem(error: unknown): Record<string, unknown> | undefined {
  const item = (error as { Item?: Record<string, unknown> }).Item;
  if (!item) return undefined;
  // The document client leaves this item in DynamoDB's attribute-value form.
  return Object.fromEntries(Object.entries(item).map(([k, v]) => [k, fromAttribute(v)]));
}

function fromAttribute(value: unknown): unknown {
  if (value && typeof value === 'object') {
    const v = value as Record<string, unknown>;
    if (typeof v['N'] === 'string') return Number(v['N']);
    if (typeof v['S'] === 'string') return v['S'];
  }
  return value;
}

function isConditionFailure(error: unknown): boolean {
  return error instanceof ConditionalCheckFailedException || (error as Error)?.name === 'ConditionalCheckFailedException';
}
