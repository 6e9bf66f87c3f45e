/**
 * Producers are tenants (docs/design.md §1): the SQS record's `SenderId` (the IAM principal that
 * sent it) is the producer, and a `binding#` item that lists `producers` admits only those.
 * Checked before the idempotency claim, before any secret is read or any relay contacted.
 */
import { bindingScope } from '../core/config/resolve.js';
import { parseConfigItem } from '../core/config/schema.js';
import { ConfigValidationError } from '../core/errors.js';
import type { QueueMessage } from '../core/message/types.js';
import type { ConfigStore, DeadLetterReason } from '../core/ports.js';
import type { QueueRecord, WorkerLogger, WorkerMetrics } from './types.js';

/** The DLQ reason of a message its producer may not send. */
export const PRODUCER_NOT_ALLOWED = 'producer-not-allowed';

/**
 * Whether `producer` (a SenderId) is one of `allowed`. A role's SenderId is `<role id>:<session>`
 * (`AROAEXAMPLE:i-0abc`), so the role id alone admits every session of the role; an entry with a
 * session admits that session only; `*` admits anyone.
 */
export function producerAllowed(producer: string | undefined, allowed: readonly string[]): boolean {
  return allowed.some((id) => id === '*' || (producer !== undefined && (producer === id || producer.startsWith(`${id}:`))));
}

/**
 * The DLQ reason when the record's producer may not use the message's binding, else undefined.
 * A binding item that cannot be validated admits nobody (its producers are unknown): its messages
 * are dead-lettered as `invalid-config`, as routing would.
 * @throws the config store's errors (transient: the caller retries the record)
 */
export async function producerRefusal(
  record: QueueRecord,
  message: QueueMessage,
  deps: { readonly config: ConfigStore; readonly logger: WorkerLogger; readonly metrics: WorkerMetrics },
): Promise<DeadLetterReason | undefined> {
  const scope = bindingScope(message.binding);
  const raw = (await deps.config.getItems([scope])).get(scope);
  if (raw === undefined) return undefined;
  const producer = record.attributes.SenderId;
  let reason: string;
  let detail: string;
  try {
    const item = parseConfigItem(raw);
    if (item.producers === undefined || producerAllowed(producer, item.producers)) return undefined;
    reason = PRODUCER_NOT_ALLOWED;
    detail = `producer ${producer ?? '(unknown: the record has no SenderId)'} may not send for binding ${message.binding} (${scope} lists ${item.producers.join(', ')})`;
  } catch (error) {
    if (!(error instanceof ConfigValidationError)) throw error;
    reason = 'invalid-config';
    detail = `${error.message} (its producers cannot be checked)`;
  }
  deps.logger.warn('message refused: producer not allowed', { sqsMessageId: record.messageId, idempotencyKey: message.idempotencyKey, binding: message.binding, producer, outcome: 'failed', reason, detail });
  deps.metrics.addMetric('Failed', 'Count', 1);
  return {
    reason,
    detail,
    recipients: message.envelope.to.map((r) => r.address),
    idempotencyKey: message.idempotencyKey,
    sourceMessageId: record.messageId,
    receiveCount: Number(record.attributes.ApproximateReceiveCount ?? '1') || 1,
    failedAt: new Date().toISOString(),
  };
}
