/**
 * Names the worker and the CDK stack must agree on, defined once: the environment variables the
 * stack sets and the worker reads, the metrics the worker emits and the stack's dashboard and
 * alarms read, and the key attributes of the tables the stack creates and the adapters query.
 * lambda/ and infra/ both import this module (docs/design.md §4); nothing here imports anything.
 */

/** Environment variables of the worker (lambda/worker/settings.ts, lambda/handlers/relay.ts). */
export const WORKER_ENV = {
  configTableName: 'CONFIG_TABLE_NAME',
  idempotencyTableName: 'IDEMPOTENCY_TABLE_NAME',
  queueUrl: 'QUEUE_URL',
  deadLetterQueueUrl: 'DEAD_LETTER_QUEUE_URL',
  secretPrefix: 'SECRET_PREFIX',
  configCacheTtlSeconds: 'CONFIG_CACHE_TTL_SECONDS',
  secretCacheTtlSeconds: 'SECRET_CACHE_TTL_SECONDS',
  /** The queue's redrive maxReceiveCount: the worker dead-letters a transient failure itself on the last receive. */
  maxReceiveCount: 'MAX_RECEIVE_COUNT',
  minRemainingTimeMs: 'MIN_REMAINING_TIME_MS',
  batchConcurrency: 'BATCH_CONCURRENCY',
  relayCaFile: 'RELAY_CA_FILE',
  /** The queue's retention: the worker expires a message before SQS would drop it (docs/outage.md). */
  queueRetentionSeconds: 'QUEUE_RETENTION_SECONDS',
  /** The relay-state table: fleet-wide suspensions (absent: each sandbox keeps its own). */
  relayStateTableName: 'RELAY_STATE_TABLE_NAME',
  /** A relay that refuses sessions is suspended this long at first, doubling up to the max. */
  routeSuspensionSeconds: 'ROUTE_SUSPENSION_SECONDS',
  routeSuspensionMaxSeconds: 'ROUTE_SUSPENSION_MAX_SECONDS',
  /** How long one probe of a suspended relay may take before another sandbox may probe. */
  routeProbeSeconds: 'ROUTE_PROBE_SECONDS',
  relayStateCacheSeconds: 'RELAY_STATE_CACHE_SECONDS',
  /** The per-message auth hook (docs/design.md §2): per-call timeout, answer cache TTL and size. */
  authHookTimeoutMs: 'AUTH_HOOK_TIMEOUT_MS',
  authHookCacheTtlSeconds: 'AUTH_HOOK_CACHE_TTL_SECONDS',
  authHookCacheSize: 'AUTH_HOOK_CACHE_SIZE',
  /** The stack's payload bucket: S3 pointer bodies are read from it only (docs/design.md §1). */
  payloadBucketName: 'PAYLOAD_BUCKET_NAME',
  /**
   * The S3 payload bytes one sandbox holds at once, in MiB (docs/payloads.md "Memory"). Absent: derived
   * from the function's memory (AWS_LAMBDA_FUNCTION_MEMORY_SIZE).
   */
  payloadBudgetMiB: 'PAYLOAD_BUDGET_MIB',
  /** Set by Lambda: the function's memory in MB; the default payload budget is derived from it. */
  functionMemorySize: 'AWS_LAMBDA_FUNCTION_MEMORY_SIZE',
  /** The longest a message waits within an invocation for a relay's connection or rate limit before it is deferred. */
  limitWaitSeconds: 'LIMIT_WAIT_SECONDS',
  /** A connection lease lapses this long after it was last renewed (a frozen or crashed sandbox's slot comes back). */
  connectionLeaseSeconds: 'CONNECTION_LEASE_SECONDS',
  /** A throttled relay gets one step of its allowance back per this many quiet seconds. */
  throttleRecoverySeconds: 'THROTTLE_RECOVERY_SECONDS',
  /** Idle SMTP sessions are closed after this many seconds. */
  sessionIdleSeconds: 'SESSION_IDLE_SECONDS',
  /** Open SMTP sessions per sandbox, all relays together. */
  maxOpenSessions: 'MAX_OPEN_SESSIONS',
  /** The EventBridge bus delivery events go to (docs/design.md §3; absent: no events are published). */
  eventBusName: 'EVENT_BUS_NAME',
  serviceName: 'POWERTOOLS_SERVICE_NAME',
  metricsNamespace: 'POWERTOOLS_METRICS_NAMESPACE',
  logLevel: 'POWERTOOLS_LOG_LEVEL',
} as const;
export type WorkerEnvVariable = (typeof WORKER_ENV)[keyof typeof WORKER_ENV];

/** Metrics the worker emits (EMF, dimension `service`): counts per message, except the duration. */
export const METRIC = {
  delivered: 'Delivered',
  deferred: 'Deferred',
  failed: 'Failed',
  authFailed: 'AuthFailed',
  deadLettered: 'DeadLettered',
  duplicate: 'Duplicate',
  /** Milliseconds, per SMTP transaction. */
  deliveryDuration: 'DeliveryDuration',
  /** Messages dead-lettered because they were not delivered within `delivery.maxAgeSeconds`. */
  expired: 'Expired',
  /** Suspensions started (counted once, by the sandbox whose write started each). */
  routeSuspended: 'RouteSuspended',
  /** Sessions refused by a relay and tried on the route's next relay. */
  routeFailover: 'RouteFailover',
  /** Recipients deferred because the relay's fleet-wide maxConnections were all in use. */
  connectionLimited: 'ConnectionLimited',
  /** Recipients deferred because the fleet was at the relay's messagesPerSecond. */
  rateLimited: 'RateLimited',
  /** Throttle steps taken after a relay answered 421 / 4.7.0 / "too many connections". */
  relayThrottled: 'RelayThrottled',
  /** Delivery events EventBridge accepted (per batch of records). */
  eventsPublished: 'EventsPublished',
  /** Delivery events that could not be published after one retry: logged, never changing a message's fate. */
  eventsFailed: 'EventPublishFailed',
} as const;
export type MetricName = (typeof METRIC)[keyof typeof METRIC];

/** Config table partition key (docs/design.md §2). */
export const CONFIG_TABLE_PARTITION_KEY = 'scope';
/** Idempotency table partition key: the message's binding and idempotency key, `<binding>#<key>` (lambda/worker/idempotencyScope.ts). */
export const IDEMPOTENCY_TABLE_PARTITION_KEY = 'id';
/** Idempotency table TTL attribute (epoch seconds). */
export const IDEMPOTENCY_TABLE_TTL_ATTRIBUTE = 'expiresAt';

/**
 * Relay-state table partition key and TTL attribute (epoch seconds). Items: `suspension#<host:port>`,
 * `lease#<host:port>[#user]#<slot>` (connection leases), `rate#<host:port>[#user]` (rate and throttle).
 */
export const RELAY_STATE_TABLE_PARTITION_KEY = 'pk';
export const RELAY_STATE_TABLE_TTL_ATTRIBUTE = 'expiresAt';

/** Keysources (secrets and SSM parameters) outside this prefix are refused by the worker and by IAM. */
export const DEFAULT_SECRET_PREFIX = 'mailrelay/';
/** Powertools `service` name: the `service` dimension of every metric the worker emits. */
export const DEFAULT_SERVICE_NAME = 'mailrelay';
/** Powertools metrics namespace (CloudWatch embedded metric format). */
export const DEFAULT_METRICS_NAMESPACE = 'Mailrelay';

/**
 * The stack's outputs (infra/mailrelayStack.ts writes them; `mailrelay --stack NAME` reads them
 * with DescribeStacks instead of flags or environment variables).
 */
export const STACK_OUTPUT = {
  queueUrl: 'QueueUrl',
  deadLetterQueueUrl: 'DeadLetterQueueUrl',
  configTableName: 'ConfigTableName',
  idempotencyTableName: 'IdempotencyTableName',
  relayStateTableName: 'RelayStateTableName',
  functionName: 'FunctionName',
  dashboardName: 'DashboardName',
  eventBusArn: 'EventBusArn',
  /** The payload bucket (docs/payloads.md): `mailrelay enqueue` offloads large bodies to it. */
  payloadBucketName: 'PayloadBucketName',
  secretPrefix: 'SecretPrefix',
  alarmTopicArn: 'AlarmTopicArn',
} as const;
export type StackOutputKey = (typeof STACK_OUTPUT)[keyof typeof STACK_OUTPUT];

/** The `source` of every delivery event the worker puts on the bus (docs/design.md §3). */
export const EVENT_SOURCE = 'mailrelay';
/** The `detail-type` of a delivery event, one per recipient disposition; rules match on it. */
export const EVENT_DETAIL_TYPE = {
  delivered: 'Recipient Delivered',
  deferred: 'Recipient Deferred',
  bounced: 'Recipient Bounced',
  'dead-lettered': 'Recipient Dead-Lettered',
  expired: 'Recipient Expired',
  duplicate: 'Recipient Duplicate',
} as const;
export type EventDetailType = (typeof EVENT_DETAIL_TYPE)[keyof typeof EVENT_DETAIL_TYPE];
