/**
 * The one place that decides a message's fate (docs/design.md §3). From what the relays answered
 * this time, what earlier receives settled and how old the message is, {@link decideFate} returns
 * a {@link Plan}: a disposition per recipient — the type the log, the metrics, the idempotency
 * record, the DLQ entry and delivery events all read — and one action for the record: acknowledge
 * it, retry it after a delay, or dead-letter it with its reason. Pure: no I/O, no clock of its own.
 */
import { DEFAULT_DELIVERY, type EffectiveDelivery } from '../core/config/resolve.js';
import { LIMIT_REASONS } from '../core/errors.js';
import type { DeadLetterReason, DeliveryRecord, RecordedFailure } from '../core/ports.js';
import type { RecipientResult } from '../core/relay.js';
import { isExpired, nextAttemptDelaySeconds, shortDelaySeconds } from './backoff.js';

/** What happened to one recipient in this attempt (KumoMTA's log disposition). */
export type DispositionStatus = 'delivered' | 'deferred' | 'bounced' | 'dead-lettered' | 'expired' | 'duplicate';

export interface Disposition {
  readonly recipient: string;
  readonly status: DispositionStatus;
  readonly reason?: string | undefined;
  readonly detail?: string | undefined;
  readonly smtpCode?: number | undefined;
  readonly smtpReply?: string | undefined;
  /** The route label (`host:port tls MECH user=...`). */
  readonly route?: string | undefined;
  readonly mechanism?: string | undefined;
  readonly authKey?: string | undefined;
  /** The SQS receive this happened on (1 = first). */
  readonly attempt: number;
}

export type PlannedAction =
  | { readonly kind: 'acknowledge' }
  | { readonly kind: 'retry'; readonly delaySeconds: number }
  | { readonly kind: 'dead-letter'; readonly reason: Omit<DeadLetterReason, 'sourceMessageId' | 'idempotencyKey' | 'failedAt'> };

export interface Plan {
  readonly dispositions: readonly Disposition[];
  readonly action: PlannedAction;
  /** What the idempotency store keeps; `dead-lettered` becomes `pending` if the DLQ write fails. */
  readonly record: Omit<DeliveryRecord, 'status'> & { readonly status: 'pending' | 'delivered' | 'dead-lettered' };
}

export interface FateInput {
  /** Every recipient of the message, in order. */
  readonly recipients: readonly string[];
  /** This attempt's results (recipients settled earlier are not in it). */
  readonly results: readonly RecipientResult[];
  /** What earlier receives settled; refused recipients count only until a redrive. */
  readonly previous?: Pick<DeliveryRecord, 'delivered' | 'failed' | 'failure'> | undefined;
  readonly receiveCount: number;
  /** The queue's redrive limit: a backstop, the age rule decides first. */
  readonly maxReceiveCount: number;
  /** Seconds since the message was sent (SQS SentTimestamp); a redrive starts a new life. */
  readonly ageSeconds: number;
  /** The message's retry policy; unknown when its config could not be read (then it never expires here). */
  readonly delivery?: EffectiveDelivery | undefined;
  readonly random?: () => number;
}

/**
 * @example
 * const plan = decideFate({ recipients: ['a@x'], results, receiveCount: 1, maxReceiveCount: 200, ageSeconds: 5, delivery });
 * // plan.action → { kind: 'retry', delaySeconds: 64 } when a@x was deferred
 */
export function decideFate(input: FateInput): Plan {
  const delivered = new Set(input.previous?.delivered ?? []);
  const failed = new Set(input.previous?.failed ?? []);
  for (const r of input.results) {
    if (r.status === 'delivered') delivered.add(r.address);
    if (r.status === 'failed') failed.add(r.address);
  }
  const deferred = input.results.filter((r) => r.status === 'deferred');
  const newFailure = input.results.find((r) => r.status === 'failed');
  // The refusal behind `failed`, kept across receives: a DLQ entry written later still names it.
  const failure: RecordedFailure | undefined = newFailure
    ? { reason: newFailure.reason ?? 'smtp-permanent', detail: newFailure.detail, responseCode: newFailure.responseCode, response: newFailure.response, route: newFailure.route }
    : failed.size > 0
      ? input.previous?.failure
      : undefined;
  const record = (status: Plan['record']['status']) => ({ status, delivered: [...delivered], failed: [...failed], failure });
  const undelivered = input.recipients.filter((a) => !delivered.has(a));
  const policy = input.delivery;

  if (deferred.length > 0) {
    const expired = policy !== undefined && isExpired(input.ageSeconds, policy);
    const exhausted = input.receiveCount >= input.maxReceiveCount;
    if (!expired && !exhausted) {
      const waitAtLeast = Math.max(0, ...deferred.map((r) => r.retryAfterSeconds ?? 0));
      const delaySeconds = onlyWaitingForLimits(deferred, input)
        ? Math.min(shortDelaySeconds(waitAtLeast, input.random), nextAttemptDelaySeconds(input.ageSeconds, policy ?? DEFAULT_DELIVERY, waitAtLeast, input.random))
        : nextAttemptDelaySeconds(input.ageSeconds, policy ?? DEFAULT_DELIVERY, waitAtLeast, input.random);
      return { dispositions: dispositionsOf(input, () => 'deferred'), action: { kind: 'retry', delaySeconds }, record: record('pending') };
    }
    const last = deferred[0]!;
    const reason = expired ? 'expired' : `retries-exhausted:${last.reason ?? 'unknown'}`;
    const detail = expired
      ? `not delivered within maxAgeSeconds (${policy!.maxAgeSeconds} s); last: ${last.reason ?? 'unknown'}: ${last.detail ?? ''}`.trim()
      : (last.detail ?? 'deferred on every receive');
    return {
      dispositions: dispositionsOf(input, (r) => (r.status === 'deferred' ? (expired ? 'expired' : 'dead-lettered') : undefined)),
      action: { kind: 'dead-letter', reason: { reason, detail, responseCode: last.responseCode, response: last.response, route: last.route, recipients: undelivered, receiveCount: input.receiveCount } },
      record: record('dead-lettered'),
    };
  }

  if (undelivered.length === 0) return { dispositions: dispositionsOf(input, () => undefined), action: { kind: 'acknowledge' }, record: record('delivered') };

  // Refused for good (this time or on an earlier receive): to the DLQ with the relay's reply.
  return {
    dispositions: dispositionsOf(input, () => undefined),
    action: {
      kind: 'dead-letter',
      reason: {
        reason: failure?.reason ?? 'smtp-permanent',
        detail: failure?.detail ?? 'recipients refused on an earlier receive',
        responseCode: failure?.responseCode,
        response: failure?.response,
        route: failure?.route,
        recipients: undelivered,
        receiveCount: input.receiveCount,
      },
    },
    record: record('dead-lettered'),
  };
}

/**
 * Every deferral waits for a relay's fleet-wide limit (docs/design.md §2 `limits`): not a failed
 * attempt, so the message comes back when the limiter says, not after the age-based backoff. Only
 * in the first half of the queue's receives: waits for limits count as receives, and the
 * maxReceiveCount backstop (derived from the backoff schedule) must stay out of reach — past
 * that, limit waits take the backoff too. The age rule decides expiry either way.
 */
function onlyWaitingForLimits(deferred: readonly RecipientResult[], input: FateInput): boolean {
  return deferred.every((r) => r.reason !== undefined && LIMIT_REASONS.has(r.reason)) && input.receiveCount * 2 < input.maxReceiveCount;
}

/** A refusal the relay answered with 5xx is a bounce; any other permanent failure (config, message) is a dead-letter. */
function permanentStatus(r: RecipientResult): DispositionStatus {
  return r.responseCode !== undefined && r.responseCode >= 500 ? 'bounced' : 'dead-lettered';
}

function dispositionsOf(input: FateInput, deferredAs: (r: RecipientResult) => DispositionStatus | undefined): Disposition[] {
  return input.results.map((r) => ({
    recipient: r.address,
    status: r.status === 'delivered' ? 'delivered' : r.status === 'failed' ? permanentStatus(r) : (deferredAs(r) ?? 'deferred'),
    reason: r.reason,
    detail: r.detail,
    smtpCode: r.responseCode,
    smtpReply: r.response,
    route: r.route,
    mechanism: r.mechanism,
    authKey: r.authKey,
    attempt: input.receiveCount,
  }));
}

/** Every recipient of a message acknowledged without contacting a relay. */
export function duplicateDispositions(recipients: readonly string[], attempt: number, reason: string): Disposition[] {
  return recipients.map((recipient) => ({ recipient, status: 'duplicate', reason, attempt }));
}
