/**
 * Retry delay of a deferred message, growing with SQS's ApproximateReceiveCount: 30 s, 1 min,
 * 2 min, ... capped at 15 min, with ±20 % jitter so a relay's outage does not make every
 * deferred message come back in the same second.
 */
export const BASE_RETRY_DELAY_SECONDS = 30;
export const MAX_RETRY_DELAY_SECONDS = 900;

export function retryDelaySeconds(receiveCount: number, random: () => number = Math.random): number {
  const exponent = Math.max(0, Math.min(receiveCount - 1, 10));
  const base = Math.min(MAX_RETRY_DELAY_SECONDS, BASE_RETRY_DELAY_SECONDS * 2 ** exponent);
  const jitter = 0.8 + random() * 0.4;
  return Math.max(1, Math.min(MAX_RETRY_DELAY_SECONDS, Math.round(base * jitter)));
}
