import { fileURLToPath } from 'node:url';

/** The repository root: the entry, the lock file and the esbuild project root are resolved from it. */
export const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));

/** The worker's handler, relative to {@link REPO_ROOT}. */
export const DEFAULT_ENTRY = 'lambda/handlers/relay.ts';

// The names the worker and the stack share (environment variables, metrics, table keys and
// defaults) are defined once, in lambda/core/names.ts.
export {
  CONFIG_TABLE_PARTITION_KEY,
  DEFAULT_METRICS_NAMESPACE,
  DEFAULT_SECRET_PREFIX,
  DEFAULT_SERVICE_NAME,
  IDEMPOTENCY_TABLE_PARTITION_KEY,
  IDEMPOTENCY_TABLE_TTL_ATTRIBUTE,
  METRIC as RELAY_METRIC,
  RELAY_STATE_TABLE_PARTITION_KEY,
  RELAY_STATE_TABLE_TTL_ATTRIBUTE,
  STACK_OUTPUT,
  type StackOutputKey,
  WORKER_ENV as ENV,
} from '../lambda/core/names.js';

/** SQS's largest message: docs/design.md §1 caps a body at 1 MiB. */
export const MAX_MESSAGE_SIZE_BYTES = 1_048_576;
/** The DLQ keeps entries for SQS's maximum retention, so an operator has two weeks to fix and redrive. */
export const DEAD_LETTER_RETENTION_DAYS = 14;
/** Payload objects expire a day after the DLQ would have dropped their pointer (docs/payloads.md). */
export const PAYLOAD_EXPIRY_DAYS = DEAD_LETTER_RETENTION_DAYS + 1;
/** AWS's guidance: the queue's visibility timeout is at least six times the function timeout (plus the batching window). */
export const VISIBILITY_TIMEOUT_FACTOR = 6;
/** Above this batch size, the SQS event source needs a batching window. */
export const MAX_BATCH_SIZE_WITHOUT_WINDOW = 10;
