/**
 * IdempotencyStore on DynamoDB (partition key `id`, TTL attribute `expiresAt`). One conditional
 * UpdateItem claims a key: it succeeds when the key is new, waiting for a retry, dead-lettered
 * (a redrive), or held by a claim whose lease ran out (a crashed invocation). Uses no
 * transactions, so it runs on dynalite too.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { ClaimOptions, ClaimResult, DeliveryRecord, IdempotencyStore, RecordedFailure } from '../core/ports.js';
import { IDEMPOTENCY_TABLE_PARTITION_KEY, IDEMPOTENCY_TABLE_TTL_ATTRIBUTE } from '../core/names.js';
import { classifyAwsError } from './awsErrors.js';

export interface DynamoIdempotencyStoreOptions {
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
  /** How long a record is kept after its last change (the TTL). @default 30 days, beyond the DLQ's 14-day retention */
  readonly retentionSeconds?: number;
  readonly now?: () => number;
}

const DEFAULT_RETENTION_SECONDS = 30 * 24 * 3600;

export class DynamoIdempotencyStore implements IdempotencyStore {
  private readonly now: () => number;
  private readonly retention: number;

  public constructor(private readonly options: DynamoIdempotencyStoreOptions) {
    this.now = options.now ?? Date.now;
    this.retention = options.retentionSeconds ?? DEFAULT_RETENTION_SECONDS;
  }

  public async claim(key: string, leaseMs: number, options: ClaimOptions = {}): Promise<ClaimResult> {
    const now = this.now();
    try {
      const response = await this.options.client.send(
        new UpdateCommand({
          TableName: this.options.tableName,
          Key: { [IDEMPOTENCY_TABLE_PARTITION_KEY]: key },
          UpdateExpression: `SET #status = :claimed, leaseUntil = :lease, ${IDEMPOTENCY_TABLE_TTL_ATTRIBUTE} = :expires`,
          ConditionExpression: `attribute_not_exists(${IDEMPOTENCY_TABLE_PARTITION_KEY}) OR #status = :pending OR (#status = :claimed AND leaseUntil < :now)${options.redrive ? ' OR #status = :dead' : ''}`,
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':claimed': 'in-progress',
            ':pending': 'pending',
            ...(options.redrive ? { ':dead': 'dead-lettered' } : {}),
            ':lease': now + leaseMs,
            ':now': now,
            ':expires': Math.floor(now / 1000) + this.retention,
          },
          ReturnValues: 'ALL_OLD',
        }),
      );
      return { outcome: 'claimed', previous: toRecord(response.Attributes) };
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

  public async settle(key: string, record: Parameters<IdempotencyStore['settle']>[1]): Promise<void> {
    const now = this.now();
    try {
      await this.options.client.send(
        new UpdateCommand({
          TableName: this.options.tableName,
          Key: { [IDEMPOTENCY_TABLE_PARTITION_KEY]: key },
          UpdateExpression: `SET #status = :status, delivered = :delivered, failed = :failed, ${IDEMPOTENCY_TABLE_TTL_ATTRIBUTE} = :expires, settledAt = :at${record.failure ? ', failure = :failure' : ''} REMOVE leaseUntil${record.failure ? '' : ', failure'}`,
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':status': record.status,
            ':delivered': [...record.delivered],
            ':failed': [...record.failed],
            ':expires': Math.floor(now / 1000) + this.retention,
            ':at': new Date(now).toISOString(),
            ...(record.failure ? { ':failure': record.failure } : {}),
          },
        }),
      );
    } catch (error) {
      throw classifyAwsError(error, `recording delivery state in ${this.options.tableName}`);
    }
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
  };
}

function isFailure(value: unknown): value is RecordedFailure {
  return value !== null && typeof value === 'object' && typeof (value as { reason?: unknown }).reason === 'string';
}
