import { fileURLToPath } from 'node:url';

/** The repository root: the entry, the lock file and the esbuild project root are resolved from it. */
export const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));

/** The worker's handler, relative to {@link REPO_ROOT}. */
export const DEFAULT_ENTRY = 'lambda/handlers/relay.ts';

/** Keysources (secrets and SSM parameters) outside this prefix are refused by the worker and by IAM. */
export const DEFAULT_SECRET_PREFIX = 'mailrelay/';

/** Powertools `service` name: the `service` dimension of every metric the worker emits. */
export const DEFAULT_SERVICE_NAME = 'mailrelay';

/** Powertools metrics namespace (CloudWatch embedded metric format). */
export const DEFAULT_METRICS_NAMESPACE = 'Mailrelay';

/** Names of the environment variables the worker reads. */
export const ENV = {
  configTableName: 'CONFIG_TABLE_NAME',
  idempotencyTableName: 'IDEMPOTENCY_TABLE_NAME',
  queueUrl: 'QUEUE_URL',
  deadLetterQueueUrl: 'DEAD_LETTER_QUEUE_URL',
  secretPrefix: 'SECRET_PREFIX',
  configCacheTtlSeconds: 'CONFIG_CACHE_TTL_SECONDS',
  secretCacheTtlSeconds: 'SECRET_CACHE_TTL_SECONDS',
  /** The queue's redrive maxReceiveCount: the worker dead-letters a transient failure itself on the last receive. */
  maxReceiveCount: 'MAX_RECEIVE_COUNT',
  serviceName: 'POWERTOOLS_SERVICE_NAME',
  metricsNamespace: 'POWERTOOLS_METRICS_NAMESPACE',
  logLevel: 'POWERTOOLS_LOG_LEVEL',
} as const;

/** Names of the metrics the worker emits (EMF, dimension `service`). */
export const RELAY_METRIC = {
  delivered: 'Delivered',
  deferred: 'Deferred',
  failed: 'Failed',
  authFailed: 'AuthFailed',
  /** Milliseconds. */
  deliveryDuration: 'DeliveryDuration',
} as const;

/** Config table partition key (docs/design.md §2). */
export const CONFIG_TABLE_PARTITION_KEY = 'scope';
/** Idempotency table partition key. */
export const IDEMPOTENCY_TABLE_PARTITION_KEY = 'id';
/** Idempotency table TTL attribute (epoch seconds). */
export const IDEMPOTENCY_TABLE_TTL_ATTRIBUTE = 'expiresAt';

/** SQS's largest message: docs/design.md §1 caps a body at 1 MiB. */
export const MAX_MESSAGE_SIZE_BYTES = 1_048_576;
/** The DLQ keeps entries for SQS's maximum retention, so an operator has two weeks to fix and redrive. */
export const DEAD_LETTER_RETENTION_DAYS = 14;
/** AWS's guidance: the queue's visibility timeout is at least six times the function timeout (plus the batching window). */
export const VISIBILITY_TIMEOUT_FACTOR = 6;
/** Above this batch size, the SQS event source needs a batching window. */
export const MAX_BATCH_SIZE_WITHOUT_WINDOW = 10;
