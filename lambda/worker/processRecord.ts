/**
 * The fate of one SQS record (docs/design.md §3): relayed, retried later, or dead-lettered with its
 * reason — never dropped, never sent twice. Knows no AWS: the queue, the DLQ and the idempotency
 * table are ports.
 */
import { isDeliveryError, MessageValidationError, TransientDeliveryError } from '../core/errors.js';
import { parseQueueMessage } from '../core/message/index.js';
import type { QueueMessage } from '../core/message/types.js';
import type { DeadLetterQueue, DeadLetterReason, DeliveryRecord, IdempotencyStore, RecordedFailure } from '../core/ports.js';
import { relayMessage, type RecipientResult, type RelayDependencies } from '../core/relay.js';
import { retryDelaySeconds } from './backoff.js';
import { fallbackIdempotencyKey, type QueueRecord, type RecordOutcome, type RetryScheduler, type WorkerLogger, type WorkerMetrics } from './types.js';

export interface WorkerDependencies extends RelayDependencies {
  readonly idempotency: IdempotencyStore;
  readonly deadLetters: DeadLetterQueue;
  readonly retries?: RetryScheduler | undefined;
  readonly logger: WorkerLogger;
  readonly metrics: WorkerMetrics;
  /** The queue's redrive maxReceiveCount: on the last receive, a deferral is dead-lettered with its reason. */
  readonly maxReceiveCount: number;
  /** How long an idempotency claim is held: at least the longest a delivery can take. */
  readonly claimLeaseMs: number;
  /** False once too little time is left to start an SMTP transaction (the handler's MIN_REMAINING_TIME_MS). */
  readonly mayStartDelivery?: (() => boolean) | undefined;
}


/**
 * Process one record. Returns `retry` when the record must be reported as a batch item failure.
 * Never throws for a problem of the record itself.
 */
export async function processRecord(record: QueueRecord, deps: WorkerDependencies): Promise<RecordOutcome> {
  const receiveCount = Number(record.attributes.ApproximateReceiveCount ?? '1') || 1;
  const base = { sqsMessageId: record.messageId, receiveCount };

  let message: QueueMessage;
  try {
    message = parseQueueMessage(record.body, { fallbackIdempotencyKey: fallbackIdempotencyKey(record) });
  } catch (error) {
    if (!(error instanceof MessageValidationError)) throw error;
    deps.logger.warn('message rejected', { ...base, outcome: 'failed', reason: 'invalid-message', detail: error.message });
    deps.metrics.addMetric('Failed', 'Count', 1);
    return deadLetter(record, deps, {
      reason: 'invalid-message',
      detail: error.message,
      recipients: [],
      idempotencyKey: fallbackIdempotencyKey(record),
      sourceMessageId: record.messageId,
      receiveCount,
      failedAt: new Date().toISOString(),
    });
  }

  const context = {
    ...base,
    idempotencyKey: message.idempotencyKey,
    messageId: message.messageId,
    binding: message.binding,
    ...(message.auth?.key ? { authKey: message.auth.key } : {}),
    ...(Object.keys(message.tags).length ? { tags: message.tags } : {}),
  };

  let claim;
  try {
    claim = await deps.idempotency.claim(message.idempotencyKey, deps.claimLeaseMs);
  } catch (error) {
    const reason = isDeliveryError(error) ? error.reason : 'aws-error';
    if (receiveCount >= deps.maxReceiveCount) return exhausted(record, deps, message, reason, `could not claim the idempotency key: ${describe(error)}`);
    deps.logger.warn('idempotency claim failed; will retry', { ...context, outcome: 'deferred', reason, detail: describe(error) });
    deps.metrics.addMetric('Deferred', 'Count', 1);
    return 'retry';
  }
  if (claim.outcome === 'duplicate') {
    deps.logger.info('duplicate: already delivered', { ...context, outcome: 'duplicate' });
    deps.metrics.addMetric('Duplicate', 'Count', 1);
    return 'duplicate';
  }
  if (claim.outcome === 'busy') {
    // On the last receive the queue would move it to the DLQ without a reason; a copy in the DLQ
    // of a message another invocation then delivers is acknowledged as a duplicate on redrive.
    if (receiveCount >= deps.maxReceiveCount) return exhausted(record, deps, message, 'in-progress', 'another invocation held the idempotency key on every receive');
    deps.logger.info('another invocation is delivering this message; will retry', { ...context, outcome: 'deferred', reason: 'in-progress' });
    await scheduleRetry(record, deps, receiveCount);
    return 'retry';
  }

  const previous: DeliveryRecord | undefined = claim.previous;
  const delivered = new Set(previous?.delivered ?? []);
  // After a redrive (the operator fixed something), refused recipients get another chance.
  const failedBefore = previous?.status === 'dead-lettered' ? [] : [...(previous?.failed ?? [])];
  const skip = new Set([...delivered, ...failedBefore]);

  const started = Date.now();
  let results: readonly RecipientResult[];
  try {
    const relayed = await relayMessage(message, deps, { skip, mayStart: deps.mayStartDelivery });
    results = relayed.recipients;
    for (const attempt of relayed.attempts) {
      deps.metrics.addMetric('DeliveryDuration', 'Milliseconds', attempt.durationMs);
      // Credentials rotated under the cache: visible, though the retry with fresh ones may have worked.
      if (attempt.authRetried) deps.logger.warn('authentication failed; retried once with re-read credentials', { ...context, route: attempt.route, mechanism: attempt.mechanism });
    }
  } catch (error) {
    // Failures outside a route (config store unavailable, ...): classified, never lost.
    const failure = isDeliveryError(error) ? error : new TransientDeliveryError(describe(error), { reason: 'aws-error' }, { cause: error });
    const status = failure instanceof TransientDeliveryError ? ('deferred' as const) : ('failed' as const);
    results = message.envelope.to
      .filter((r) => !skip.has(r.address))
      .map((r) => ({ address: r.address, status, reason: failure.reason, detail: failure.message }));
  }

  for (const r of results) {
    if (r.status === 'delivered') delivered.add(r.address);
  }
  const failed = new Set([...failedBefore, ...results.filter((r) => r.status === 'failed').map((r) => r.address)]);
  const deferred = results.filter((r) => r.status === 'deferred');
  const newlyDelivered = results.filter((r) => r.status === 'delivered');
  if (newlyDelivered.length) deps.metrics.addMetric('Delivered', 'Count', 1);
  if (results.some((r) => r.reason === 'auth-failed')) deps.metrics.addMetric('AuthFailed', 'Count', 1);

  for (const r of results) {
    const line = { ...context, recipient: r.address, outcome: r.status, route: r.route, mechanism: r.mechanism, ...(r.authKey ? { authKey: r.authKey } : {}), smtpCode: r.responseCode, reason: r.reason, detail: r.detail, durationMs: Date.now() - started };
    if (r.status === 'delivered') deps.logger.info('relayed', { ...line, smtpReply: r.response });
    else deps.logger.warn(r.status === 'deferred' ? 'deferred' : 'rejected', { ...line, smtpReply: r.response });
  }

  // The refusal behind `failed`, kept across receives: the DLQ entry written later still names it.
  const newFailure = results.find((r) => r.status === 'failed');
  const failure: RecordedFailure | undefined = newFailure
    ? { reason: newFailure.reason ?? 'smtp-permanent', detail: newFailure.detail, responseCode: newFailure.responseCode, response: newFailure.response, route: newFailure.route }
    : failedBefore.length > 0
      ? previous?.failure
      : undefined;
  const recordOf = (status: 'pending' | 'delivered' | 'dead-lettered') => ({ status, delivered: [...delivered], failed: [...failed], failure });
  const undelivered = message.envelope.to.map((r) => r.address).filter((a) => !delivered.has(a));

  if (deferred.length > 0 && receiveCount < deps.maxReceiveCount) {
    await settle(deps, message.idempotencyKey, recordOf('pending'), context);
    deps.metrics.addMetric('Deferred', 'Count', 1);
    await scheduleRetry(record, deps, receiveCount);
    return 'retry';
  }

  if (undelivered.length === 0) {
    await settle(deps, message.idempotencyKey, recordOf('delivered'), context);
    return 'delivered';
  }

  // Permanent failures, or deferrals on the last receive: dead-letter with the reason of the
  // first recipient still undelivered (the queue would move it anyway, but without a reason).
  const worst = deferred[0] ?? failure;
  const reason: DeadLetterReason = {
    reason: deferred.length > 0 ? `retries-exhausted:${worst?.reason ?? 'unknown'}` : (worst?.reason ?? 'smtp-permanent'),
    detail: worst?.detail ?? 'recipients refused on an earlier receive',
    responseCode: worst?.responseCode,
    response: worst?.response,
    route: worst?.route,
    recipients: undelivered,
    idempotencyKey: message.idempotencyKey,
    sourceMessageId: record.messageId,
    receiveCount,
    failedAt: new Date().toISOString(),
  };
  deps.metrics.addMetric('Failed', 'Count', 1);
  const outcome = await deadLetter(record, deps, reason);
  await settle(deps, message.idempotencyKey, recordOf(outcome === 'retry' ? 'pending' : 'dead-lettered'), context);
  return outcome;
}

/**
 * Dead-letter a record that was not relayed on its last receive, before any delivery started:
 * otherwise the queue's redrive policy would move it without its reason.
 */
export async function exhausted(record: QueueRecord, deps: WorkerDependencies, parsed: QueueMessage | undefined, reason: string, detail: string): Promise<RecordOutcome> {
  const receiveCount = Number(record.attributes.ApproximateReceiveCount ?? '1') || 1;
  let message = parsed;
  if (!message) {
    try {
      message = parseQueueMessage(record.body, { fallbackIdempotencyKey: fallbackIdempotencyKey(record) });
    } catch {
      // An invalid body still goes to the DLQ; its key and recipients are simply unknown.
    }
  }
  deps.metrics.addMetric('Failed', 'Count', 1);
  return deadLetter(record, deps, {
    reason: `retries-exhausted:${reason}`,
    detail,
    recipients: message ? message.envelope.to.map((r) => r.address) : [],
    idempotencyKey: message?.idempotencyKey ?? fallbackIdempotencyKey(record),
    sourceMessageId: record.messageId,
    receiveCount,
    failedAt: new Date().toISOString(),
  });
}

async function deadLetter(record: QueueRecord, deps: WorkerDependencies, reason: DeadLetterReason): Promise<RecordOutcome> {
  try {
    const sent = await deps.deadLetters.send(record.body, reason);
    if (!sent) {
      // Too large to carry its reason: the queue's redrive policy will move it after
      // maxReceiveCount; the reason is in this log line.
      deps.logger.error('too large to dead-letter with attributes; left to the redrive policy', { sqsMessageId: record.messageId, reason: reason.reason, detail: reason.detail });
      return 'retry';
    }
    deps.metrics.addMetric('DeadLettered', 'Count', 1);
    deps.logger.warn('dead-lettered', { sqsMessageId: record.messageId, idempotencyKey: reason.idempotencyKey, reason: reason.reason, detail: reason.detail, smtpCode: reason.responseCode, route: reason.route, recipients: reason.recipients });
    return 'dead-lettered';
  } catch (error) {
    // Never acknowledge a record whose DLQ copy was not written.
    deps.logger.error('could not send to the DLQ; will retry', { sqsMessageId: record.messageId, reason: reason.reason, detail: describe(error) });
    return 'retry';
  }
}

async function settle(deps: WorkerDependencies, key: string, record: Parameters<IdempotencyStore['settle']>[1], context: Record<string, unknown>): Promise<void> {
  try {
    await deps.idempotency.settle(key, record);
  } catch (error) {
    // The claim lapses when its lease ends. Until then a redelivery waits (busy); after it, the
    // recipients this attempt delivered are not on record and are sent again — the same
    // at-least-once window as a crash after the relay's 250 (README, Fault handling). Logged so an
    // operator sees the table is unhealthy.
    deps.logger.error('could not record delivery state', { ...context, detail: describe(error) });
  }
}

async function scheduleRetry(record: QueueRecord, deps: WorkerDependencies, receiveCount: number): Promise<void> {
  if (!deps.retries) return;
  const seconds = retryDelaySeconds(receiveCount);
  try {
    await deps.retries.delay(record, seconds);
  } catch (error) {
    // The record is still reported as failed; it just comes back after the queue's own visibility timeout.
    deps.logger.warn('could not set the retry delay; the visibility timeout applies', { sqsMessageId: record.messageId, detail: describe(error) });
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
