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
 * The longest an invocation runs (Lambda's 15 minutes): the 12 hours count from the receive, and
 * the delay is set up to that long after it.
 */
const LONGEST_INVOCATION_SECONDS = 900;
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

function clampDelay(seconds: number): number {
  return Math.max(1, Math.min(MAX_RETRY_DELAY_SECONDS, Math.round(seconds)));
}
