/**
 * The queue outlives the worker's retry horizon (docs/design.md §3): retention and maxReceiveCount
 * derived from `delivery`, and a horizon the queue cannot hold refused at synth, naming both values.
 */
import { Duration } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { resolveMailrelayProps } from '../../infra/mailrelayStackProps.js';
import { attemptsWithin, deliveryHorizon } from '../../infra/retryHorizon.js';
import { FIXTURE_ENTRY } from './helpers.js';

describe('deliveryHorizon', () => {
  it('the defaults (3 days, 60 s doubling to 1 h) need about a hundred attempts; the queue gets twice that plus spare', () => {
    const horizon = deliveryHorizon();
    expect(attemptsWithin(259_200, 60, 3600)).toBe(97);
    expect(horizon).toEqual({ maxAgeSeconds: 259_200, retryIntervalSeconds: 60, maxRetryIntervalSeconds: 3600, minimumRetentionSeconds: 264_000, minimumMaxReceiveCount: 204 });
  });

  it('an age the queue cannot hold is an error naming both values', () => {
    expect(() => deliveryHorizon({ maxAgeSeconds: 14 * 86_400 - 100 })).toThrow(
      /invalid delivery.maxAgeSeconds: 1209500 seconds plus delivery.maxRetryIntervalSeconds \(3600\).*retentionPeriod at most 1209599 seconds/,
    );
  });

  it('a schedule that needs more receives than SQS allows is an error naming both values', () => {
    expect(() => deliveryHorizon({ maxAgeSeconds: 7 * 86_400, retryIntervalSeconds: 60, maxRetryIntervalSeconds: 60 })).toThrow(
      /invalid delivery.retryIntervalSeconds: 60 seconds doubling to delivery.maxRetryIntervalSeconds \(60\) over delivery.maxAgeSeconds \(604800\).*maxReceiveCount limit of 1000/,
    );
  });
});

describe('the stack sizes the queue from delivery', () => {
  it('a seven-day age gets a retention of the age + the longest interval + batching window and invocation + a day', () => {
    const settings = resolveMailrelayProps({ entry: FIXTURE_ENTRY, delivery: { maxAgeSeconds: 7 * 86_400 } });
    expect(settings.retentionPeriod.toSeconds()).toBe(7 * 86_400 + 3600 + 1200 + 86_400);
    expect(settings.maxReceiveCount).toBe(settings.delivery.minimumMaxReceiveCount);
  });

  it('an explicit retention or maxReceiveCount too small for the age is refused, naming both', () => {
    expect(() => resolveMailrelayProps({ entry: FIXTURE_ENTRY, retentionPeriod: Duration.days(2) })).toThrow(
      /invalid retentionPeriod: 172800 seconds is shorter than delivery.maxAgeSeconds \(259200\)/,
    );
    expect(() => resolveMailrelayProps({ entry: FIXTURE_ENTRY, maxReceiveCount: 5 })).toThrow(/invalid maxReceiveCount: 5 is too low for delivery.maxAgeSeconds \(259200\).*at least 204/);
  });

  it('a short age lets the queue be sized down', () => {
    const settings = resolveMailrelayProps({ entry: FIXTURE_ENTRY, delivery: { maxAgeSeconds: 3600 }, maxReceiveCount: 40 });
    expect(settings.maxReceiveCount).toBe(40);
    expect(settings.delivery.minimumMaxReceiveCount).toBeLessThanOrEqual(40);
  });
});
