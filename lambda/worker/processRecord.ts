/**
 * The life of one SQS record (docs/design.md §3): parse, claim its idempotency key, relay what
 * is still undelivered, let {@link decideFate} decide, then carry the plan out — log and count
 * each recipient's disposition, record it, and acknowledge, retry or dead-letter the record.
 * Never drops a message, never sends a delivered recipient twice. Knows no AWS: the queue, the
 * DLQ and the tables are ports.
 */
import { isDeliveryError, MessageValidationError, TransientDeliveryError, type DeliveryError } from '../core/errors.js';
import { parseQueueMessage } from '../core/message/index.js';
import type { QueueMessage } from '../core/message/types.js';
import type { DeadLetterQueue, DeadLetterReason, DeliveryRecord, EventPublisher, IdempotencyStore } from '../core/ports.js';
import { relayMessage, type RelayDependencies, type RelayResult } from '../core/relay.js';
import { DEFAULT_DELIVERY } from '../core/config/resolve.js';
import { startStage, timeStage } from '../core/stageTimings.js';
import { fitToQueue, shortDelaySeconds } from './backoff.js';
import { decideFate, duplicateDispositions, type Disposition, type Plan } from './disposition.js';
import type { EventBatch } from './events.js';
import { idempotencyRecordId } from './idempotencyScope.js';
import { releasePayload, resolveBody, wasRelayed, type PayloadDependencies, type ResolvedBody } from './payload.js';
import { producerRefusal } from './producers.js';
import type { SettleBatch } from './settleBatch.js';
import { logNotices, recordDispositions } from './report.js';
import { fallbackIdempotencyKey, isRedrive, redriveSource, type QueueRecord, type RecordOutcome, type RetryScheduler, type WorkerLogger, type WorkerMetrics } from './types.js';

export interface WorkerDependencies extends RelayDependencies, PayloadDependencies {
  readonly idempotency: IdempotencyStore;
  readonly deadLetters: DeadLetterQueue;
  readonly retries?: RetryScheduler | undefined;
  readonly logger: WorkerLogger;
  readonly metrics: WorkerMetrics;
  /** The queue's redrive maxReceiveCount: a backstop; a message's age decides when it expires. */
  readonly maxReceiveCount: number;
  /** The queue's retention (QUEUE_RETENTION_SECONDS), when known: the age rule is fitted to it. */
  readonly queueRetentionSeconds?: number | undefined;
  /** How long an idempotency claim is held: at least the longest a delivery can take. */
  readonly claimLeaseMs: number;
  /** False once too little time is left to start an SMTP transaction (the handler's MIN_REMAINING_TIME_MS). */
  readonly mayStartDelivery?: (() => boolean) | undefined;
  /** The clock, for the message's age. @default Date.now */
  readonly now?: (() => number) | undefined;
  /** The invocation's group commit of settles (processBatch sets it); without it, one settle per record. */
  readonly settles?: SettleBatch | undefined;
  /** The event bus port (docs/design.md §3): processBatch publishes each batch's delivery events through it. */
  readonly events?: EventPublisher | undefined;
  /** The current batch's events, set by processBatch; recordDispositions adds to it. */
  readonly eventBatch?: EventBatch | undefined;
}

/** How long a record waits while another invocation holds its key: not a failed attempt. */
const BUSY_RETRY_SECONDS = 30;

/**
 * Process one record. Returns `retry` when the record must be reported as a batch item failure.
 * Never throws for a problem of the record itself.
 */
export async function processRecord(record: QueueRecord, deps: WorkerDependencies): Promise<RecordOutcome> {
  let message: QueueMessage;
  let body: ResolvedBody | undefined;
  // The payload budget (lambda/worker/payloadBudget.ts) is held from before the object is read
  // until the record is done — relayed, retried, dead-lettered, or thrown out of here.
  try {
    const parsed = startStage('parse');
    try {
      body = await resolveBody(record, deps);
      message = parseQueueMessage(body.text, { fallbackIdempotencyKey: fallbackIdempotencyKey(record), maxBodyBytes: body.maxBytes });
      parsed();
    } catch (error) {
      if (isDeliveryError(error)) return await payloadUnreadable(record, deps, error);
      if (!(error instanceof MessageValidationError)) throw error;
      return await rejectInvalid(record, deps, error);
    }
    const outcome = await processMessage(record, message, receiveCountOf(record), deps);
    await releasePayload(body.pointer, outcome, { sqsMessageId: record.messageId, idempotencyKey: message.idempotencyKey }, deps);
    return outcome;
  } finally {
    body?.lease?.release();
  }
}

/**
 * The S3 object of a pointer body could not be read: a missing one is dead-lettered, unless the
 * worker deleted it after relaying the message (a copy: `duplicate`, see payload.ts wasRelayed);
 * anything else is retried.
 */
async function payloadUnreadable(record: QueueRecord, deps: WorkerDependencies, failure: DeliveryError): Promise<RecordOutcome> {
  const receiveCount = receiveCountOf(record);
  let error = failure;
  if (error.reason === 'payload-missing') {
    try {
      if (await wasRelayed(record, deps.idempotency)) {
        deps.logger.info('duplicate: its payload was deleted after the message was relayed', { sqsMessageId: record.messageId, receiveCount, outcome: 'duplicate', previousStatus: 'delivered' });
        deps.metrics.addMetric('Duplicate', 'Count', 1);
        return 'duplicate';
      }
    } catch (lookup) {
      // Unknown whether it was relayed: not dead-lettered on a guess, retried.
      error = new TransientDeliveryError(`${error.message}; whether it was relayed before could not be read: ${describe(lookup)}`, { reason: isDeliveryError(lookup) ? lookup.reason : 'aws-error' });
    }
  }
  if (error instanceof TransientDeliveryError) {
    if (receiveCount >= deps.maxReceiveCount) return exhausted(record, deps, undefined, error.reason, error.message);
    deps.logger.warn(error.reason === 'out-of-time' ? 'no payload budget before the invocation ran low on time; will retry' : 'payload not readable; will retry', { sqsMessageId: record.messageId, receiveCount, outcome: 'deferred', reason: error.reason, detail: error.message });
    deps.metrics.addMetric('Deferred', 'Count', 1);
    return 'retry';
  }
  deps.metrics.addMetric('Failed', 'Count', 1);
  return deadLetter(record, deps, { reason: error.reason, detail: error.message, recipients: [], idempotencyKey: fallbackIdempotencyKey(record), sourceMessageId: record.messageId, receiveCount, failedAt: new Date().toISOString() });
}

async function processMessage(record: QueueRecord, message: QueueMessage, receiveCount: number, deps: WorkerDependencies): Promise<RecordOutcome> {
  const context = logContext(record, message, receiveCount);
  const redrive = isRedrive(record);
  const redriveOf = redriveSource(record);
  let claim;
  try {
    const refused = await producerRefusal(record, message, deps);
    if (refused) return await deadLetter(record, deps, refused);
    claim = await timeStage('claim', () => deps.idempotency.claim(idempotencyRecordId(message), deps.claimLeaseMs, { redrive, redriveOf }));
  } catch (error) {
    const reason = isDeliveryError(error) ? error.reason : 'aws-error';
    if (receiveCount >= deps.maxReceiveCount) return exhausted(record, deps, message, reason, `could not claim the idempotency key: ${describe(error)}`);
    deps.logger.warn('producer check or idempotency claim failed; will retry', { ...context, outcome: 'deferred', reason, detail: describe(error) });
    deps.metrics.addMetric('Deferred', 'Count', 1);
    return 'retry';
  }
  if (claim.outcome === 'duplicate') {
    // Delivered before, or dead-lettered before and this is a producer's copy, not a redrive:
    // acknowledged without contacting a relay, so one message never sits in the DLQ twice.
    const why =
      claim.previous.status !== 'dead-lettered'
        ? 'already delivered'
        : redrive
          ? 'this DLQ entry was redriven before (a second copy of its redrive, or an entry an interrupted redrive left behind)'
          : 'already dead-lettered (a redrive carries mailrelay.idempotencyKey)';
    deps.logger.info(`duplicate: ${why}`, { ...context, outcome: 'duplicate', previousStatus: claim.previous.status });
    deps.metrics.addMetric('Duplicate', 'Count', 1);
    recordDispositions(duplicateDispositions(message.envelope.to.map((r) => r.address), receiveCount, claim.previous.status), context, deps);
    return 'duplicate';
  }
  if (claim.outcome === 'busy') {
    // On the last receive the queue would move it to the DLQ without a reason; a copy in the DLQ
    // of a message another invocation then delivers is acknowledged as a duplicate on redrive.
    if (receiveCount >= deps.maxReceiveCount) return exhausted(record, deps, message, 'in-progress', 'another invocation held the idempotency key on every receive');
    deps.logger.info('another invocation is delivering this message; will retry', { ...context, outcome: 'deferred', reason: 'in-progress' });
    await scheduleRetry(record, deps, shortDelaySeconds(BUSY_RETRY_SECONDS));
    return 'retry';
  }

  // After a redrive (the operator fixed something), refused recipients get another chance.
  const previous = claim.previous;
  const reset = refusalsReset(previous, redriveOf);
  const settledBefore = reset ? { ...previous!, failed: [] } : previous;
  const relayed = await relay(message, settledBefore, context, deps);
  logNotices(relayed.notices, context, deps);
  const plan = decideFate({
    recipients: message.envelope.to.map((r) => r.address),
    results: relayed.recipients,
    previous: settledBefore,
    receiveCount,
    maxReceiveCount: deps.maxReceiveCount,
    ageSeconds: ageSecondsOf(record, deps.now ?? Date.now),
    // The config's policy (or the default when the config could not be read), fitted to what the
    // queue holds, so SQS never drops or moves a message before the worker decides its fate.
    delivery: fitToQueue(relayed.delivery ?? DEFAULT_DELIVERY, { retentionSeconds: deps.queueRetentionSeconds, maxReceiveCount: deps.maxReceiveCount }),
  });
  // The entries redriven so far stay on the record (the claim added this one), and so does the
  // round the refusals belong to: a reset starts this redrive's.
  const redrivenEntries = redriveOf === undefined ? previous?.redrivenEntries : [...new Set([...(previous?.redrivenEntries ?? []), redriveOf])];
  const refusedIn = reset ? redriveOf : previous?.refusedIn;
  const kept = { ...(redrivenEntries?.length ? { redrivenEntries } : {}), ...(refusedIn !== undefined ? { refusedIn } : {}) };
  return carryOut(Object.keys(kept).length ? { ...plan, record: { ...plan.record, ...kept } } : plan, record, message, context, deps);
}

/**
 * Whether this claim starts a redrive's round, in which recipients refused before get another
 * chance (docs/design.md §3): the key was dead-lettered, or a redrive that names its entry takes
 * the key from an invocation that died holding it and the refusals on record are not its round's
 * (`refusedIn`), as when its own first receive died before settling. Refusals met in a redrive's
 * round stay refused until the next redrive, whichever receive of it runs.
 */
function refusalsReset(previous: DeliveryRecord | undefined, entry: string | undefined): boolean {
  if (previous?.status === 'dead-lettered') return true;
  return entry !== undefined && previous?.status === 'in-progress' && previous.refusedIn !== entry;
}

/** The relay step: every failure outside a route (config store down, ...) is classified, never lost. */
async function relay(message: QueueMessage, settled: Pick<DeliveryRecord, 'delivered' | 'failed'> | undefined, context: Record<string, unknown>, deps: WorkerDependencies): Promise<RelayResult> {
  const skip = new Set([...(settled?.delivered ?? []), ...(settled?.failed ?? [])]);
  try {
    const relayed = await relayMessage(message, deps, { skip, mayStart: deps.mayStartDelivery });
    for (const attempt of relayed.attempts) {
      deps.metrics.addMetric('DeliveryDuration', 'Milliseconds', attempt.durationMs);
      // Credentials rotated under the cache: visible, though the retry with fresh ones may have worked.
      if (attempt.authRetried) deps.logger.warn('authentication failed; retried once with re-read credentials', { ...context, route: attempt.route, mechanism: attempt.mechanism });
    }
    return relayed;
  } catch (error) {
    const failure = isDeliveryError(error) ? error : new TransientDeliveryError(describe(error), { reason: 'aws-error' }, { cause: error });
    const status = failure instanceof TransientDeliveryError ? ('deferred' as const) : ('failed' as const);
    const recipients = message.envelope.to
      .filter((r) => !skip.has(r.address))
      .map((r) => ({ address: r.address, status, reason: failure.reason, detail: failure.message }));
    return { recipients, attempts: [], notices: [] };
  }
}

/** The plan's consumers: the log and metrics, the DLQ or the retry delay, the idempotency record. */
async function carryOut(plan: Plan, record: QueueRecord, message: QueueMessage, context: Record<string, unknown>, deps: WorkerDependencies): Promise<RecordOutcome> {
  const { action } = plan;
  if (action.kind === 'retry') {
    recordDispositions(plan.dispositions, context, deps);
    await settle(deps, idempotencyRecordId(message), plan.record, context);
    deps.metrics.addMetric('Deferred', 'Count', 1);
    await scheduleRetry(record, deps, action.delaySeconds);
    return 'retry';
  }
  if (action.kind === 'acknowledge') {
    recordDispositions(plan.dispositions, context, deps);
    await settle(deps, idempotencyRecordId(message), plan.record, context);
    return 'delivered';
  }
  deps.metrics.addMetric(action.reason.reason === 'expired' ? 'Expired' : 'Failed', 'Count', 1);
  const outcome = await deadLetter(record, deps, { ...action.reason, idempotencyKey: message.idempotencyKey, sourceMessageId: record.messageId, failedAt: new Date().toISOString() });
  // A DLQ entry that could not be written leaves the record to come back: not dead-lettered yet.
  recordDispositions(outcome === 'retry' ? plan.dispositions.map(asNotDeadLettered) : plan.dispositions, context, deps);
  await settle(deps, idempotencyRecordId(message), { ...plan.record, status: outcome === 'retry' ? 'pending' : 'dead-lettered' }, context);
  return outcome;
}

function asNotDeadLettered(d: Disposition): Disposition {
  return d.status === 'dead-lettered' || d.status === 'expired' ? { ...d, status: 'deferred', reason: 'dlq-unavailable' } : d;
}

/** A body that breaks the contract: to the DLQ at once, naming the field. */
function rejectInvalid(record: QueueRecord, deps: WorkerDependencies, error: MessageValidationError): Promise<RecordOutcome> {
  const receiveCount = receiveCountOf(record);
  deps.logger.warn('message rejected', { sqsMessageId: record.messageId, receiveCount, outcome: 'failed', reason: 'invalid-message', detail: error.message });
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

/**
 * Dead-letter a record that was not relayed on its last receive, before any delivery started:
 * otherwise the queue's redrive policy would move it without its reason.
 */
export async function exhausted(record: QueueRecord, deps: WorkerDependencies, parsed: QueueMessage | undefined, reason: string, detail: string): Promise<RecordOutcome> {
  let message = parsed;
  if (!message) {
    try {
      message = parseQueueMessage(record.body, { fallbackIdempotencyKey: fallbackIdempotencyKey(record) });
    } catch {
      // An invalid body still goes to the DLQ; its key and recipients are simply unknown.
    }
  }
  deps.metrics.addMetric('Failed', 'Count', 1);
  const receiveCount = receiveCountOf(record);
  const recipients = message ? message.envelope.to.map((r) => r.address) : [];
  const outcome = await deadLetter(record, deps, {
    reason: `retries-exhausted:${reason}`,
    detail,
    recipients,
    idempotencyKey: message?.idempotencyKey ?? fallbackIdempotencyKey(record),
    sourceMessageId: record.messageId,
    receiveCount,
    failedAt: new Date().toISOString(),
  });
  if (message && outcome === 'dead-lettered') {
    // Each recipient's fate, like any other dead-letter (its log line, its delivery event).
    const fate = recipients.map((recipient): Disposition => ({ recipient, status: 'dead-lettered', reason: `retries-exhausted:${reason}`, detail, attempt: receiveCount }));
    recordDispositions(fate, logContext(record, message, receiveCount), deps);
  }
  return outcome;
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
  // The claim lapses when its lease ends. Until then a redelivery waits (busy); after it, the
  // recipients this attempt delivered are not on record and are sent again — the same
  // at-least-once window as a crash after the relay's 250 (docs/fault-handling.md). Logged so
  // an operator sees the table is unhealthy.
  const failed = (error: unknown): void => deps.logger.error('could not record delivery state', { ...context, detail: describe(error) });
  if (deps.settles) return deps.settles.add(key, record, failed);
  try {
    await deps.idempotency.settle(key, record);
  } catch (error) {
    failed(error);
  }
}

async function scheduleRetry(record: QueueRecord, deps: WorkerDependencies, seconds: number): Promise<void> {
  if (!deps.retries) return;
  try {
    await deps.retries.delay(record, seconds);
  } catch (error) {
    // The record is still reported as failed; it just comes back after the queue's own visibility timeout.
    deps.logger.warn('could not set the retry delay; the visibility timeout applies', { sqsMessageId: record.messageId, detail: describe(error) });
  }
}

function logContext(record: QueueRecord, message: QueueMessage, receiveCount: number): Record<string, unknown> {
  return {
    sqsMessageId: record.messageId,
    receiveCount,
    idempotencyKey: message.idempotencyKey,
    messageId: message.messageId,
    binding: message.binding,
    ...(message.auth?.key ? { authKey: message.auth.key } : {}),
    ...(Object.keys(message.tags).length ? { tags: message.tags } : {}),
    ...queuedAt(record),
    ...(message.submission ? { submission: message.submission } : {}),
  };
}

/** When SQS accepted the message (ISO-8601), when known: the start of its delivery. */
function queuedAt(record: QueueRecord): { queuedAt?: string } {
  const sent = Number(record.attributes.SentTimestamp);
  return Number.isFinite(sent) && sent > 0 ? { queuedAt: new Date(sent).toISOString() } : {};
}

function receiveCountOf(record: QueueRecord): number {
  return Number(record.attributes.ApproximateReceiveCount ?? '1') || 1;
}

/** Seconds since SQS accepted the message (a redrive is a new message: a new life). Unknown → 0. */
export function ageSecondsOf(record: QueueRecord, now: () => number): number {
  const sent = Number(record.attributes.SentTimestamp);
  return Number.isFinite(sent) && sent > 0 ? Math.max(0, (now() - sent) / 1000) : 0;
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
