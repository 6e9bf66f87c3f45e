/**
 * Every price the cost estimate uses, in one place. AWS list prices, us-east-1, on-demand, free
 * tiers ignored. Recorded 2026-11-23 from the AWS pricing pages below (this machine has no
 * network, so they were not re-fetched on the day of the run): check them before relying on
 * the estimate, and edit them here.
 */
export const PRICES = {
  recordedOn: '2026-11-23',
  region: 'us-east-1',
  /** https://aws.amazon.com/lambda/pricing/ — Arm, first 7.5 billion GB-s per month. */
  lambdaArmPerGbSecond: 0.000_013_333_4,
  /** https://aws.amazon.com/lambda/pricing/ — $0.20 per 1M requests. */
  lambdaPerRequest: 0.2 / 1_000_000,
  /** https://aws.amazon.com/sqs/pricing/ — standard queue, $0.40 per 1M requests (each 64 KiB chunk of a payload is one request). */
  sqsPerRequest: 0.4 / 1_000_000,
  /** https://aws.amazon.com/dynamodb/pricing/on-demand/ — $0.625 per 1M write request units (since 2024-11-01). */
  dynamoPerWriteUnit: 0.625 / 1_000_000,
  /** https://aws.amazon.com/dynamodb/pricing/on-demand/ — $0.125 per 1M read request units (since 2024-11-01). */
  dynamoPerReadUnit: 0.125 / 1_000_000,
  /** https://aws.amazon.com/secrets-manager/pricing/ — $0.05 per 10,000 API calls ($0.40 per secret-month not included). */
  secretsManagerPerCall: 0.05 / 10_000,
  /** https://aws.amazon.com/systems-manager/pricing/ — standard-throughput GetParameter is free (SecureString via KMS not counted). */
  ssmPerCall: 0,
  /** https://aws.amazon.com/cloudwatch/pricing/ — logs ingestion (standard class), $0.50 per GB. */
  cloudWatchLogsPerGb: 0.5,
  /** https://aws.amazon.com/eventbridge/pricing/ — custom events, $1.00 per 1M (each 64 KB chunk of an event is one). */
  eventBridgePerEvent: 1 / 1_000_000,
  /** https://aws.amazon.com/s3/pricing/ — S3 Standard requests: PUT, COPY, POST, LIST $0.005 per 1,000 (the producer's offload). */
  s3PerPutRequest: 0.005 / 1_000,
  /** https://aws.amazon.com/s3/pricing/ — S3 Standard requests: GET, SELECT and all other requests $0.0004 per 1,000. */
  s3PerGetRequest: 0.0004 / 1_000,
  /** https://aws.amazon.com/s3/pricing/ — DELETE and CANCEL requests are free. Storage for the minutes an object lives is negligible. */
  s3PerDeleteRequest: 0,
  /** https://aws.amazon.com/ses/pricing/ — outbound email, $0.10 per 1,000 messages (attachments' data extra). */
  sesPerMessage: 0.1 / 1_000,
} as const;

/** Assumptions the estimate needs beyond what the bench measures. */
export const COST_ASSUMPTIONS = {
  /** Producers enqueue with SendMessageBatch of 10; 10 × ~3.3 KB bodies stay under one 64 KiB billing chunk. */
  producerMessagesPerSendRequest: 10,
  /** Delivery events per message (docs/events.md): one per recipient per receive; the bench's messages have one recipient, delivered at once. */
  deliveryEventsPerMessage: 1,
  /** Lambda's own START / END / REPORT lines per invocation, billed as log ingestion. */
  lambdaPlatformLogBytesPerInvocation: 300,
  /** DynamoDB: every write here is an item under 1 KB (1 WRU); a BatchGetItem of config reads ~3 keys, eventually consistent (0.5 RRU each); a consistent GetItem is 1 RRU. */
  writeUnitsPerWrite: 1,
  readUnitsPerBatchGet: 1.5,
  readUnitsPerGet: 1,
  /** Lambda gives 1 vCPU at 1,769 MB, proportionally less below (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html). */
  fullVcpuMemoryMb: 1769,
} as const;
