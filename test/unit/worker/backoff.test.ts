/** The retry schedule (docs/design.md §2 `delivery`, §3): doubling by age, capped, jittered, ending at maxAgeSeconds. */
import { describe, expect, it } from 'vitest';
import { fitToQueue, isExpired, MAX_RETRY_DELAY_SECONDS, nextAttemptDelaySeconds, receivesNeeded, retryDelaySeconds } from '../../../lambda/worker/backoff.js';

const policy = { maxAgeSeconds: 259_200, retryIntervalSeconds: 60, maxRetryIntervalSeconds: 3600 };
const middle = () => 0.5;

describe('retryDelaySeconds', () => {
  it('doubles from the first interval when each attempt happens on time: 60, 120, 240, 480, ... capped at the max', () => {
    let age = 0;
    const delays: number[] = [];
    for (let i = 0; i < 9; i++) {
      const delay = retryDelaySeconds(age, policy, middle);
      delays.push(delay);
      age += delay;
    }
    expect(delays).toEqual([60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
  });

  it('jitters by ±20 % and never below 1 s or above what one ChangeMessageVisibility can hold', () => {
    expect(retryDelaySeconds(0, policy, () => 0)).toBe(48);
    expect(retryDelaySeconds(0, policy, () => 1)).toBe(72);
    expect(retryDelaySeconds(0, { retryIntervalSeconds: 1, maxRetryIntervalSeconds: 1 }, () => 0)).toBe(1);
    expect(retryDelaySeconds(1e9, { retryIntervalSeconds: 43_200, maxRetryIntervalSeconds: 43_200 }, () => 1)).toBe(MAX_RETRY_DELAY_SECONDS);
    expect(MAX_RETRY_DELAY_SECONDS).toBeLessThan(43_200);
  });
});

describe('nextAttemptDelaySeconds', () => {
  it('waits at least what a suspended relay asks for', () => {
    expect(nextAttemptDelaySeconds(0, policy, 300, middle)).toBe(300);
  });
  it('never sleeps past the message’s expiry: the last attempt happens at maxAgeSeconds', () => {
    expect(nextAttemptDelaySeconds(policy.maxAgeSeconds - 100, policy, 0, middle)).toBe(100);
  });
});

describe('isExpired', () => {
  it('a message is expired from maxAgeSeconds on', () => {
    expect(isExpired(policy.maxAgeSeconds - 1, policy)).toBe(false);
    expect(isExpired(policy.maxAgeSeconds, policy)).toBe(true);
  });
});

describe('fitToQueue: the config’s policy fitted to the queue the stack sized', () => {
  it('an age the queue would not keep is shortened, so the message expires (DLQ) before SQS could drop it', () => {
    const fitted = fitToQueue({ maxAgeSeconds: 604_800, retryIntervalSeconds: 60, maxRetryIntervalSeconds: 3600 }, { retentionSeconds: 345_600, maxReceiveCount: 204 });
    expect(fitted.maxAgeSeconds).toBe(345_600 - fitted.maxRetryIntervalSeconds - 1200);
    expect(isExpired(fitted.maxAgeSeconds, fitted)).toBe(true);
  });

  it('a schedule that would use up maxReceiveCount before its age gets a longer maximum interval', () => {
    const fast = { maxAgeSeconds: 259_200, retryIntervalSeconds: 5, maxRetryIntervalSeconds: 5 };
    expect(receivesNeeded(fast)).toBeGreaterThan(204);
    const fitted = fitToQueue(fast, { maxReceiveCount: 204 });
    expect(receivesNeeded(fitted)).toBeLessThanOrEqual(204);
    expect(fitted.retryIntervalSeconds).toBe(5);
    expect(fitted.maxAgeSeconds).toBe(259_200);
  });

  it('a policy that fits is unchanged', () => {
    const policy = { maxAgeSeconds: 259_200, retryIntervalSeconds: 60, maxRetryIntervalSeconds: 3600 };
    expect(fitToQueue(policy, { retentionSeconds: 345_600, maxReceiveCount: 204 })).toEqual(policy);
  });
});
