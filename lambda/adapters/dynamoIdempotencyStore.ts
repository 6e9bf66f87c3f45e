/**
 * IdempotencyStore on DynamoDB (partition key `id`, TTL attribute `expiresAt`). One conditional
 * UpdateItem claims a key: it succeeds when the key is new, waiting for a retry, dead-lettered
 * (a redrive), or held by a claim whose lease ran out (a crashed invocation). Uses no
 * transactions, so it runs on dynalite too.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ConditionalCheckFailedException, UpdateItemCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, GetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { TransientDeliveryError } from '../core/errors.js';
import type { ClaimOptions, ClaimResult, DeliveryRecord, IdempotencyStore, RecordedFailure, SettledRecord, SettleEntry, SettleFailure } from '../core/ports.js';
import { IDEMPOTENCY_TABLE_PARTITION_KEY, IDEMPOTENCY_TABLE_TTL_ATTRIBUTE } from '../core/names.js';
import { awsErrorName, classifyAwsError } from './awsErrors.js';

export interface DynamoIdempotencyStoreOptions {
  readonly client: DynamoDBDocumentClient;
  /**
   * The client of the claim, the one call every message makes: a low-level client built with
   * `cacheMiddleware: true`, so the SDK resolves the claim's middleware stack once per sandbox
   * instead of once per message (measured: about a fifth of the call's client CPU). The document
   * client cannot cache: its commands bind their handler to the first command's input. The claim
   * is therefore sent as a low-level UpdateItem with its values marshalled here.
   * @default `client` (which passes low-level commands through)
   */
  readonly claimClient?: Pick<DynamoDBClient, 'send'>;
  readonly tableName: string;
  /** How long a record is kept after its last change (the TTL). @default 30 days, beyond the DLQ's 14-day retention */
  readonly retentionSeconds?: number;
  readonly now?: () => number;
  /** Pause before re-sending a BatchWriteItem's UnprocessedItems, doubled each round. @default 50 ms */
  readonly unprocessedBackoffMs?: number;
}

const DEFAULT_RETENTION_SECONDS = 30 * 24 * 3600;
/** DynamoDB's limit of put/delete requests in one BatchWriteItem. */
export const BATCH_WRITE_MAX_ITEMS = 25;
/** Rounds of UnprocessedItems re-sent (50, 100, 200, 400 ms apart) before an entry counts as not written. */
const UNPROCESSED_RETRIES = 4;

export class DynamoIdempotencyStore implements IdempotencyStore {
  private readonly now: () => number;
  private readonly retention: number;

  public constructor(private readonly options: DynamoIdempotencyStoreOptions) {
    this.now = options.now ?? Date.now;
    this.retention = options.retentionSeconds ?? DEFAULT_RETENTION_SECONDS;
  }

  public async claim(key: string, leaseMs: number, options: ClaimOptions = {}): Promise<ClaimResult> {
    const now = this.now();
    const number = (value: number): AttributeValue => ({ N: String(value) });
    // A redrive takes a dead-lettered key back unless its DLQ entry was redriven before; a claim
    // records the entry, atomically with the claim itself.
    const entry = options.redrive ? options.redriveOf : undefined;
    const dead = !options.redrive ? '' : entry === undefined ? ' OR #status = :dead' : ' OR (#status = :dead AND NOT contains(redrivenEntries, :entry))';
    try {
      const response = await (this.options.claimClient ?? this.options.client).send(
        new UpdateItemCommand({
          TableName: this.options.tableName,
          Key: { [IDEMPOTENCY_TABLE_PARTITION_KEY]: { S: key } },
          UpdateExpression: `SET #status = :claimed, leaseUntil = :lease, ${IDEMPOTENCY_TABLE_TTL_ATTRIBUTE} = :expires${entry === undefined ? '' : ' ADD redrivenEntries :entries'}`,
          ConditionExpression: `attribute_not_exists(${IDEMPOTENCY_TABLE_PARTITION_KEY}) OR #status = :pending OR (#status = :claimed AND leaseUntil < :now)${dead}`,
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':claimed': { S: 'in-progress' },
            ':pending': { S: 'pending' },
            ...(options.redrive ? { ':dead': { S: 'dead-lettered' } } : {}),
            ...(entry === undefined ? {} : { ':entry': { S: entry }, ':entries': { SS: [entry] } }),
            ':lease': number(now + leaseMs),
            ':now': number(now),
            ':expires': number(Math.floor(now / 1000) + this.retention),
          },
          ReturnValues: 'ALL_OLD',
        }),
      );
      return { outcome: 'claimed', previous: toRecord(response.Attributes && unmarshall(response.Attributes)) };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException) && (error as Error)?.name !== 'ConditionalCheckFailedException') {
        throw classifyAwsError(error, `claiming idempotency key in ${this.options.tableName}`);
      }
    }
    let current;
    try {
      current = await this.options.client.send(new GetCommand({ TableName: this.options.tableName, Key: { [IDEMPOTENCY_TABLE_PARTITION_KEY]: key }, ConsistentRead: true }));
    } catch (error) {
      throw classifyAwsError(error, `reading idempotency key in ${this.options.tableName}`);
    }
    const previous = toRecord(current.Item);
    if (previous?.status === 'delivered' || previous?.status === 'dead-lettered') return { outcome: 'duplicate', previous };
    return { outcome: 'busy' };
  }

  public async settle(key: string, record: SettledRecord): Promise<void> {
    const now = this.now();
    try {
      await this.options.client.send(
        new UpdateCommand({
          TableName: this.options.tableName,
          Key: { [IDEMPOTENCY_TABLE_PARTITION_KEY]: key },
          UpdateExpression: `SET #status = :status, delivered = :delivered, failed = :failed, ${IDEMPOTENCY_TABLE_TTL_ATTRIBUTE} = :expires, settledAt = :at${record.failure ? ', failure = :failure' : ''}${record.refusedIn ? ', refusedIn = :round' : ''} REMOVE leaseUntil${record.failure ? '' : ', failure'}${record.refusedIn ? '' : ', refusedIn'}`,
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':status': record.status,
            ':delivered': [...record.delivered],
            ':failed': [...record.failed],
            ':expires': Math.floor(now / 1000) + this.retention,
            ':at': new Date(now).toISOString(),
            ...(record.failure ? { ':failure': record.failure } : {}),
            ...(record.refusedIn ? { ':round': record.refusedIn } : {}),
          },
        }),
      );
    } catch (error) {
      throw classifyAwsError(error, `recording delivery state in ${this.options.tableName}`);
    }
  }

  /**
   * Settle many keys with BatchWriteItem (25 puts a request, 1 WRU each like the UpdateItem of
   * `settle`). A put replaces the whole item with exactly what `settle` leaves behind (no lease),
   * and it is unconditional like `settle`: the caller still holds each key's claim. Throttled
   * entries come back as UnprocessedItems and are re-sent with a backoff; a request DynamoDB
   * rejects as invalid (one oversized item fails all 25) is retried entry by entry with `settle`,
   * so a bad entry fails alone.
   */
  public async settleMany(entries: readonly SettleEntry[]): Promise<readonly SettleFailure[]> {
    const latest = new Map<string, SettledRecord>();
    // One request may not name a key twice; the later record is the one `settle` would leave.
    for (const { key, record } of entries) latest.set(key, record);
    const unique = [...latest].map(([key, record]) => ({ key, record }));
    const chunks: SettleEntry[][] = [];
    for (let i = 0; i < unique.length; i += BATCH_WRITE_MAX_ITEMS) chunks.push(unique.slice(i, i + BATCH_WRITE_MAX_ITEMS));
    return (await Promise.all(chunks.map((chunk) => this.writeChunk(chunk)))).flat();
  }

  private async writeChunk(chunk: readonly SettleEntry[]): Promise<SettleFailure[]> {
    const table = this.options.tableName;
    const now = this.now();
    const byKey = new Map(chunk.map((entry) => [entry.key, entry]));
    let requests = chunk.map(({ key, record }) => ({ PutRequest: { Item: this.settledItem(key, record, now) } }));
    for (let round = 0; ; round++) {
      let unprocessed;
      try {
        const response = await this.options.client.send(new BatchWriteCommand({ RequestItems: { [table]: requests } }));
        unprocessed = response.UnprocessedItems?.[table] ?? [];
      } catch (error) {
        const pending = requests.map((r) => byKey.get(String(r.PutRequest?.Item?.[IDEMPOTENCY_TABLE_PARTITION_KEY]))!);
        if (awsErrorName(error) === 'ValidationException' && pending.length > 1) return this.settleEach(pending);
        const failure = classifyAwsError(error, `recording delivery state in ${table}`);
        return pending.map(({ key }) => ({ key, error: failure }));
      }
      if (unprocessed.length === 0) return [];
      const keys = unprocessed.map((r) => String(r.PutRequest?.Item?.[IDEMPOTENCY_TABLE_PARTITION_KEY]));
      if (round >= UNPROCESSED_RETRIES) {
        const error = new TransientDeliveryError(`recording delivery state in ${table}: still unprocessed after ${round + 1} BatchWriteItem requests (throttled)`, { reason: 'aws-throttled' });
        return keys.map((key) => ({ key, error }));
      }
      requests = unprocessed.map((r) => ({ PutRequest: { Item: r.PutRequest!.Item! } }));
      await sleep((this.options.unprocessedBackoffMs ?? 50) * 2 ** round);
    }
  }

  private async settleEach(entries: readonly SettleEntry[]): Promise<SettleFailure[]> {
    const results = await Promise.all(
      entries.map(async ({ key, record }): Promise<SettleFailure | undefined> => {
        try {
          await this.settle(key, record);
          return undefined;
        } catch (error) {
          return { key, error };
        }
      }),
    );
    return results.filter((r): r is SettleFailure => r !== undefined);
  }

  /**
   * The item `settle`'s UpdateItem leaves: status, lists, TTL, settledAt, the failure if any, the
   * redriven entries (kept by the UpdateItem, carried in the record for this put; a string set, as
   * the claim's ADD writes it); no lease.
   */
  private settledItem(key: string, record: SettledRecord, now: number): Record<string, unknown> {
    return {
      [IDEMPOTENCY_TABLE_PARTITION_KEY]: key,
      status: record.status,
      delivered: [...record.delivered],
      failed: [...record.failed],
      [IDEMPOTENCY_TABLE_TTL_ATTRIBUTE]: Math.floor(now / 1000) + this.retention,
      settledAt: new Date(now).toISOString(),
      ...(record.failure ? { failure: record.failure } : {}),
      ...(record.redrivenEntries?.length ? { redrivenEntries: new Set(record.redrivenEntries) } : {}),
      ...(record.refusedIn ? { refusedIn: record.refusedIn } : {}),
    };
  }
}

function toRecord(item: Record<string, unknown> | undefined): DeliveryRecord | undefined {
  if (!item) return undefined;
  const list = (value: unknown): string[] => (Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []);
  const status = item['status'];
  return {
    status: status === 'pending' || status === 'delivered' || status === 'dead-lettered' || status === 'in-progress' ? status : 'pending',
    delivered: list(item['delivered']),
    failed: list(item['failed']),
    failure: isFailure(item['failure']) ? item['failure'] : undefined,
    refusedIn: typeof item['refusedIn'] === 'string' ? item['refusedIn'] : undefined,
    redrivenEntries: item['redrivenEntries'] instanceof Set ? [...(item['redrivenEntries'] as Set<unknown>)].filter((v): v is string => typeof v === 'string') : undefined,
  };
}

function isFailure(value: unknown): value is RecordedFailure {
  return value !== null && typeof value === 'object' && typeof (value as { reason?: unknown }).reason === 'string';
}
