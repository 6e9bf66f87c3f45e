/**
 * When a deferred message comes back, and when it has been tried long enough (docs/design.md §3):
 * an MTA's queue lifetime, decided from the message's age, not from how often SQS delivered it.
 *
 * The interval doubles from `retryIntervalSeconds` to `maxRetryIntervalSeconds`. It is derived
 * from the age alone (`interval + age`, capped), so a message tried on time is retried after
 * r, 2r, 4r, 8r, ... — and receives that were not delivery attempts (another invocation held the
 * key, a route was suspended) do not make the schedule jump ahead. ±20 % jitter spreads the
 * messages of one outage so they do not all come back in the same second.
 */
import type { EffectiveDelivery } from '../core/config/resolve.js';

/** SQS refuses a visibility timeout beyond 12 hours after the receive. */
export const MAX_VISIBILITY_SECONDS = 43_200;
/**
 * The longest a record can be held before its delay is set: the event source's batching window
 * (at most 5 minutes) plus Lambda's 15-minute invocation. SQS counts its 12 hours from the receive.
 */
const LONGEST_INVOCATION_SECONDS = 300 + 900;
/** The longest delay one ChangeMessageVisibility can set safely, whenever in the invocation it runs. */
export const MAX_RETRY_DELAY_SECONDS = MAX_VISIBILITY_SECONDS - LONGEST_INVOCATION_SECONDS;
const JITTER = 0.2;

/**
 * Seconds until the next attempt of a message `ageSeconds` old.
 * @example
 * retryDelaySeconds(0, { retryIntervalSeconds: 60, maxRetryIntervalSeconds: 3600, maxAgeSeconds: 259200 }, () => 0.5) // → 60
 * retryDelaySeconds(60, policy, () => 0.5)  // → 120
 * retryDelaySeconds(180, policy, () => 0.5) // → 240
 */
export function retryDelaySeconds(ageSeconds: number, policy: Omit<EffectiveDelivery, 'maxAgeSeconds'>, random: () => number = Math.random): number {
  const age = Math.max(0, ageSeconds);
  const base = Math.min(policy.maxRetryIntervalSeconds, policy.retryIntervalSeconds + age);
  const jittered = base * (1 - JITTER + random() * 2 * JITTER);
  return clampDelay(jittered);
}

/**
 * The delay of a deferral that must also wait for something else (a suspended route's remaining
 * time), and never past the message's expiry by more than a second: the last attempt happens at
 * `maxAgeSeconds`, then the message expires.
 */
export function nextAttemptDelaySeconds(ageSeconds: number, policy: EffectiveDelivery, atLeastSeconds = 0, random: () => number = Math.random): number {
  const backoff = Math.max(retryDelaySeconds(ageSeconds, policy, random), atLeastSeconds);
  const untilExpiry = policy.maxAgeSeconds - ageSeconds;
  return clampDelay(untilExpiry > 0 ? Math.min(backoff, Math.max(untilExpiry, 1)) : backoff);
}

/** Whether a message of this age has been tried long enough: it expires on its next deferral. */
export function isExpired(ageSeconds: number, policy: Pick<EffectiveDelivery, 'maxAgeSeconds'>): boolean {
  return ageSeconds >= policy.maxAgeSeconds;
}

/** A short wait for a deferral that is not a failed attempt (the key is busy elsewhere). */
export function shortDelaySeconds(seconds: number, random: () => number = Math.random): number {
  return clampDelay(seconds * (1 - JITTER + random() * 2 * JITTER));
}

/** What the queue can hold: SQS drops a message after its retention and moves it after maxReceiveCount receives. */
export interface QueueLimits {
  /** The queue's retention (the stack sets QUEUE_RETENTION_SECONDS); unknown outside the stack. */
  readonly retentionSeconds?: number | undefined;
  readonly maxReceiveCount: number;
}

/** Receives a schedule may use: an attempt and a receive that was not one (busy, suspended, limited), plus spare. */
export const RECEIVES_PER_ATTEMPT = 2;
export const SPARE_RECEIVES = 10;

/** Delivery attempts within `maxAge` on this schedule, at the shortest jitter (the most attempts). */
export function attemptsWithin(maxAge: number, first: number, cap: number): number {
  let age = 0;
  let attempts = 1;
  while (age < maxAge) {
    age += Math.max(1, Math.min(cap, first + age) * (1 - JITTER));
    attempts += 1;
  }
  return attempts;
}

/** Receives the schedule needs within its age. */
export function receivesNeeded(policy: EffectiveDelivery): number {
  return attemptsWithin(policy.maxAgeSeconds, policy.retryIntervalSeconds, policy.maxRetryIntervalSeconds) * RECEIVES_PER_ATTEMPT + SPARE_RECEIVES;
}

/**
 * The policy a config item asks for, made to fit the queue it runs on: config is written at run
 * time, the queue was sized at deploy time (the stack's `delivery` prop). A schedule that would use
 * up maxReceiveCount before its age gets a longer maximum interval; an age the queue would not
 * keep is shortened so the message expires (DLQ, `expired`) before SQS could drop it. Either way
 * the message ends in one place, never silently lost.
 * @example
 * fitToQueue({ maxAgeSeconds: 604800, retryIntervalSeconds: 60, maxRetryIntervalSeconds: 3600 }, { retentionSeconds: 345600, maxReceiveCount: 204 })
 * // → maxAgeSeconds 340800 (retention − 1 h − 20 min)
 */
export function fitToQueue(policy: EffectiveDelivery, queue: QueueLimits): EffectiveDelivery {
  let fitted = policy;
  while (receivesNeeded(fitted) > queue.maxReceiveCount && fitted.maxRetryIntervalSeconds < MAX_RETRY_DELAY_SECONDS) {
    fitted = { ...fitted, maxRetryIntervalSeconds: Math.min(MAX_RETRY_DELAY_SECONDS, fitted.maxRetryIntervalSeconds * 2) };
  }
  if (queue.retentionSeconds !== undefined) {
    const keepable = queue.retentionSeconds - fitted.maxRetryIntervalSeconds - LONGEST_INVOCATION_SECONDS;
    if (fitted.maxAgeSeconds > keepable) fitted = { ...fitted, maxAgeSeconds: Math.max(60, keepable) };
  }
  return fitted;
}

function clampDelay(seconds: number): number {
  return Math.max(1, Math.min(MAX_RETRY_DELAY_SECONDS, Math.round(seconds)));
}
