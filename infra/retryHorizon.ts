/**
 * The queue must outlive the worker's retry horizon (docs/design.md §3): SQS may neither drop a
 * message (retention) nor move it to the DLQ (maxReceiveCount) before the worker has tried it for
 * `delivery.maxAgeSeconds`. The stack derives both from the largest age and the fastest schedule
 * any config item uses, and refuses a horizon the queue cannot hold, naming both values.
 */
import { DEFAULT_MAX_AGE_SECONDS, DEFAULT_MAX_RETRY_INTERVAL_SECONDS, DEFAULT_RETRY_INTERVAL_SECONDS } from '../lambda/core/config/resolve.js';
import { MAX_RETRY_INTERVAL_SECONDS } from '../lambda/core/config/schema.js';
import { attemptsWithin, RECEIVES_PER_ATTEMPT, SPARE_RECEIVES } from '../lambda/worker/backoff.js';
import { MailrelayPropsError } from './errors.js';

export { attemptsWithin } from '../lambda/worker/backoff.js';

/** The retry schedule the stack sizes the queue for. */
export interface DeliveryHorizonProps {
  /**
   * The largest `delivery.maxAgeSeconds` any config item sets.
   * @default 259200 (three days)
   */
  readonly maxAgeSeconds?: number;
  /**
   * The smallest `delivery.retryIntervalSeconds` any config item sets (more attempts, more receives).
   * @default 60
   */
  readonly retryIntervalSeconds?: number;
  /**
   * The smallest `delivery.maxRetryIntervalSeconds` any config item sets.
   * @default 3600
   */
  readonly maxRetryIntervalSeconds?: number;
}

export interface DeliveryHorizon {
  readonly maxAgeSeconds: number;
  readonly retryIntervalSeconds: number;
  readonly maxRetryIntervalSeconds: number;
  /** Retention that holds the oldest message through its last attempt. */
  readonly minimumRetentionSeconds: number;
  /** Receives the schedule can take within the age, with room for receives that are not attempts. */
  readonly minimumMaxReceiveCount: number;
}

const SECONDS_PER_DAY = 86_400;
/** SQS keeps a message at most 14 days; the queue's retention must stay below the DLQ's 14. */
export const MAX_QUEUE_RETENTION_SECONDS = 14 * SECONDS_PER_DAY - 1;
/** SQS's largest maxReceiveCount. */
export const MAX_RECEIVE_COUNT_LIMIT = 1000;
/** The batching window and the longest invocation: a delay may be set this long after the receive. */
const LONGEST_INVOCATION_SECONDS = 300 + 900;

/**
 * @example
 * deliveryHorizon({}) // → { maxAgeSeconds: 259200, ..., minimumRetentionSeconds: 262800 + 1200, minimumMaxReceiveCount: 204 }
 */
export function deliveryHorizon(props: DeliveryHorizonProps = {}): DeliveryHorizon {
  const maxAgeSeconds = integer('delivery.maxAgeSeconds', props.maxAgeSeconds ?? DEFAULT_MAX_AGE_SECONDS, 60, MAX_QUEUE_RETENTION_SECONDS);
  const retryIntervalSeconds = integer('delivery.retryIntervalSeconds', props.retryIntervalSeconds ?? DEFAULT_RETRY_INTERVAL_SECONDS, 1, MAX_RETRY_INTERVAL_SECONDS);
  const maxRetryIntervalSeconds = integer(
    'delivery.maxRetryIntervalSeconds',
    props.maxRetryIntervalSeconds ?? Math.max(DEFAULT_MAX_RETRY_INTERVAL_SECONDS, retryIntervalSeconds),
    retryIntervalSeconds,
    MAX_RETRY_INTERVAL_SECONDS,
  );
  const minimumRetentionSeconds = maxAgeSeconds + maxRetryIntervalSeconds + LONGEST_INVOCATION_SECONDS;
  if (minimumRetentionSeconds > MAX_QUEUE_RETENTION_SECONDS) {
    throw new MailrelayPropsError(
      'delivery.maxAgeSeconds',
      `${maxAgeSeconds} seconds plus delivery.maxRetryIntervalSeconds (${maxRetryIntervalSeconds}) and the batching window with one invocation (${LONGEST_INVOCATION_SECONDS}) is ` +
        `${minimumRetentionSeconds} seconds, longer than the queue can keep a message (retentionPeriod at most ${MAX_QUEUE_RETENTION_SECONDS} seconds)`,
    );
  }
  const attempts = attemptsWithin(maxAgeSeconds, retryIntervalSeconds, maxRetryIntervalSeconds);
  const minimumMaxReceiveCount = attempts * RECEIVES_PER_ATTEMPT + SPARE_RECEIVES;
  if (minimumMaxReceiveCount > MAX_RECEIVE_COUNT_LIMIT) {
    throw new MailrelayPropsError(
      'delivery.retryIntervalSeconds',
      `${retryIntervalSeconds} seconds doubling to delivery.maxRetryIntervalSeconds (${maxRetryIntervalSeconds}) over delivery.maxAgeSeconds (${maxAgeSeconds}) ` +
        `needs about ${minimumMaxReceiveCount} receives, more than SQS's maxReceiveCount limit of ${MAX_RECEIVE_COUNT_LIMIT}: raise maxRetryIntervalSeconds`,
    );
  }
  return { maxAgeSeconds, retryIntervalSeconds, maxRetryIntervalSeconds, minimumRetentionSeconds, minimumMaxReceiveCount };
}

function integer(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new MailrelayPropsError(name, `${value} is out of range: it must be an integer from ${min} to ${max}`);
  }
  return value;
}
