/**
 * RelayLimiter on the relay-state table (partition key `pk`, TTL attribute `expiresAt`), the table
 * that holds the fleet's suspensions:
 * - `lease#<host:port>[#user]#<slot>`: one item per connection slot (slot < maxConnections), taken
 *   with a conditional put (free, or lapsed), renewed and released only by its holder. Before a
 *   put, one consistent BatchGetItem reads the slots and the rate item: the put goes to a slot
 *   seen free, only while fewer slots are held than the allowance at the throttle level just read
 *   (slots above a lowered allowance still count), and a full relay costs that read alone (read
 *   units; a failed conditional put would cost a write unit per slot). A renewal also reads the
 *   rate item, for the throttle level.
 * - `rate#<host:port>[#user]`: the GCRA arrival time `tat` (epoch ms) and the throttle state
 *   (`throttleLevel`, `throttledAt`). One conditional update per rate decision. The condition is a
 *   range, not the exact value last seen: "the arrival time still leaves room for these messages"
 *   (`tat <= now + tolerance - (n - 1) × interval`, then `tat = tat + n × interval`), so sandboxes
 *   taking tokens at the same moment do not invalidate each other; and "the throttle state is the
 *   one this decision used", so a throttle step taken elsewhere makes the update fail, the item is
 *   read and the decision is taken again at the lowered rate. At most {@link MAX_RATE_TRIES}
 *   updates per decision.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, DeleteCommand, GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { randomUUID } from 'node:crypto';
import {
  allowance,
  currentLevel,
  DEFAULT_LIMITER_POLICY,
  gcra,
  gcraParameters,
  rateAt,
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
  public readonly shared = true;

  public constructor(private readonly options: DynamoRelayLimiterOptions) {
    this.policy = options.policy ?? DEFAULT_LIMITER_POLICY;
    this.now = options.now ?? Date.now;
  }

  public async acquireLease(key: string, maxConnections: number): Promise<LeaseResult> {
    // Every new session looks first: the slots and the throttle level as they are now, so a step
    // another sandbox took is never missed (a lease is per session, so this read is too).
    const view = await this.readSlots(key, maxConnections);
    const allowed = allowance({ maxConnections, messagesPerSecond: undefined }, this.throttleLevel(key)).maxConnections;
    const holder = `${this.sandbox}/${++this.serial}`;
    // Slots held above a lowered allowance still count: their sessions are open until they close.
    const held = (now: number): number => [...view.entries()].filter(([slot, until]) => slot < maxConnections && until >= now).length;
    for (const slot of freeSlots(view, allowed, this.now())) {
      const now = this.now();
      if (held(now) >= allowed) break;
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
        view.set(slot, expiresAt);
        return { granted: true, lease: { key, slot, holder, expiresAt, ttlMs: this.policy.leaseTtlMs } };
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
        // Taken since the read: held until its lease lapses (or a whole TTL when the service did not say).
        const until = conditionItem(error)?.['leaseExpiresAt'];
        view.set(slot, typeof until === 'number' ? until : now + this.policy.leaseTtlMs);
      }
    }
    const now = this.now();
    const soonest = Math.min(...[...view.entries()].filter(([slot, until]) => slot < maxConnections && until >= now).map(([, until]) => until));
    return { granted: false, retryAfterMs: Number.isFinite(soonest) ? Math.min(Math.max(soonest - now, 250), this.policy.leaseTtlMs) : Math.min(1_000, this.policy.leaseTtlMs) };
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
    // Once per renewal (half a lease time), a sandbox whose sessions stay open learns the fleet's
    // throttle level: a step taken elsewhere lowers its allowance and its extra session closes.
    await this.readFresh(lease.key);
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
      const rate = rateAt(messagesPerSecond, currentLevel(view.throttle, this.policy, now));
      // The stored arrival time only moves forward and the throttle level only ever lowers the
      // rate, so "nothing now" from an old view is still true: no call.
      const decision = gcra(view.tat, now, rate, count);
      if (decision.granted === 0) return decision;
      const { intervalMs, toleranceMs } = gcraParameters(rate);
      const idle = view.tat === undefined || view.tat <= now;
      // Whole milliseconds, rounded so that rounding never lets the relay go faster.
      const step = Math.ceil(decision.granted * intervalMs);
      const throttleCondition = view.throttle ? 'throttledAt = :since' : 'attribute_not_exists(throttledAt)';
      try {
        const response = await this.send(
          new UpdateCommand({
            TableName: this.options.tableName,
            Key: { pk: rateKey(key) },
            // From an idle relay the arrival time restarts at now; from a busy one it moves on by
            // the messages taken, as long as it still leaves room for them, whoever moved it last.
            UpdateExpression: idle ? 'SET tat = :tat, expiresAt = :ttl' : 'SET tat = tat + :step, expiresAt = :ttl',
            ConditionExpression: `${idle ? '(attribute_not_exists(tat) OR tat <= :now)' : '(tat > :now AND tat <= :room)'} AND ${throttleCondition}`,
            ExpressionAttributeValues: {
              ':ttl': Math.ceil((now + toleranceMs + step + RATE_RETENTION_MS) / 1000),
              ':now': now,
              ...(idle ? { ':tat': now + step } : { ':step': step, ':room': Math.floor(now + toleranceMs - (decision.granted - 1) * intervalMs + 1e-6) }),
              ...(view.throttle ? { ':since': view.throttle.since } : {}),
            },
            ReturnValues: 'ALL_NEW',
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
          `taking from the rate of ${key}`,
        );
        this.remember(key, response.Attributes);
        return { granted: decision.granted, retryAfterMs: 0 };
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
        if (attempt >= MAX_RATE_TRIES) return { granted: 0, retryAfterMs: Math.ceil(1000 / rate) };
        // The relay's state is not what this decision assumed: learn it (from the failure, or by reading) and decide again.
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

  /** One consistent read of a key's lease slots (slot → when its lease lapses, epoch ms), and of its rate item. */
  private async readSlots(key: string, maxConnections: number): Promise<Map<number, number>> {
    // The rate item comes along: a sandbox that never took a token (a route without
    // messagesPerSecond) learns the fleet's throttle level, and with it its connection allowance.
    const keys = [...Array.from({ length: maxConnections }, (_, slot) => ({ pk: leaseKey(key, slot) })), { pk: rateKey(key) }];
    const response = (await this.send(
      new BatchGetCommand({ RequestItems: { [this.options.tableName]: { Keys: keys, ConsistentRead: true } } }),
      `reading the connection leases of ${key}`,
    )) as { Responses?: Record<string, Record<string, unknown>[]>; UnprocessedKeys?: Record<string, { Keys?: Record<string, unknown>[] }> };
    const now = this.now();
    const view = new Map<number, number>();
    for (const item of response.Responses?.[this.options.tableName] ?? []) {
      if (item['pk'] === rateKey(key)) {
        this.remember(key, item);
        continue;
      }
      const slot = Number(String(item['pk']).slice(leaseKey(key, 0).length - 1));
      const until = item['leaseExpiresAt'];
      if (typeof until === 'number') view.set(slot, until);
    }
    // Keys the service did not get to (throttled reads) count as held for a second.
    for (const unread of response.UnprocessedKeys?.[this.options.tableName]?.Keys ?? []) {
      if (unread['pk'] === rateKey(key)) continue;
      view.set(Number(String(unread['pk']).slice(leaseKey(key, 0).length - 1)), now + 1_000);
    }
    return view;
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

  private async send(command: PutCommand | UpdateCommand | DeleteCommand | GetCommand | BatchGetCommand, what: string): Promise<{ Attributes?: Record<string, unknown>; Item?: Record<string, unknown> }> {
    this.calls += 1;
    try {
      return (await this.options.client.send(command as never)) as { Attributes?: Record<string, unknown>; Item?: Record<string, unknown> };
    } catch (error) {
      if (isConditionFailure(error)) throw error;
      throw classifyAwsError(error, `${what} in ${this.options.tableName}`);
    }
  }
}

/** The slots below `maxConnections` this view believes free at `now`, in a random order (sandboxes spread over them). */
function freeSlots(view: ReadonlyMap<number, number>, maxConnections: number, now: number): number[] {
  const free: number[] = [];
  for (let slot = 0; slot < maxConnections; slot++) if ((view.get(slot) ?? 0) < now) free.push(slot);
  for (let i = free.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [free[i], free[j]] = [free[j]!, free[i]!];
  }
  return free;
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
