/**
 * The modeled invocation (bench/analyze.ts): the emulator's claim and settle latency on the
 * invocation's path replaced by one round trip each; the ratios to raw pooled and to the floor.
 */
import { describe, expect, it } from 'vitest';
import { modeledInvocationMs, summarize, type BenchConfiguration, type ConfigurationKind, type PhaseRun } from '../../../bench/analyze.js';

describe('modeledInvocationMs', () => {
  it('batch of 10, 10 in flight: one wave of claims and one settle are replaced by the round trip', () => {
    // 40 ms invocation, of which a 12 ms claim and a 6 ms settle: 40 - (12 - 4) - (6 - 4) = 30.
    expect(modeledInvocationMs(40, { claim: 12, settle: 6, smtp: 9 }, 10, 10, 4)).toBeCloseTo(30, 6);
  });

  it('batch of 100, 10 in flight: ten waves of claims are on the path', () => {
    expect(modeledInvocationMs(400, { claim: 12, settle: 6 }, 100, 10, 4)).toBeCloseTo(400 - 10 * 8 - 2, 6);
  });

  it('a fast emulator makes the modeled invocation longer, never below zero', () => {
    expect(modeledInvocationMs(20, { claim: 1, settle: 1 }, 10, 10, 5)).toBeCloseTo(28, 6);
    expect(modeledInvocationMs(5, { claim: 50, settle: 50 }, 10, 10, 4)).toBe(0);
  });
});

describe('summarize: the floor (raw pooled + the worker\'s claim)', () => {
  const config = (kind: ConfigurationKind, inFlight = 10): BenchConfiguration => ({ id: `${kind}-f${inFlight}`, kind, greeting: 'no-delay', routes: 10, inFlight, messages: 1000, warmup: 50, label: kind });
  // 1000 messages in 2 s; CPU per message as given.
  const run = (cpuMsPerMsg: number, wallMs = 2000): PhaseRun => ({
    round: 1,
    measurement: { delivered: 1000, failed: 0, wallMs, cpuMs: cpuMsPerMsg * 1000, logBytes: 0, peakRssMb: 100 },
    relay: { connections: 4, messages: 1000, rejected: 0, bytes: 3_000_000, authFailures: 0, errors: 0, cpuMs: 300, commands: { AUTH: 4, MAIL: 1000 } },
    aws: { 'DynamoDB.UpdateItem': 1000 },
  });

  it('relates the floor to raw pooled, and the worker to both (same routes, same in-flight count)', () => {
    const configurations = [config('worker'), config('pooled'), config('floor'), config('pooled', 50), config('floor', 50)];
    const runs = new Map<string, PhaseRun[]>([
      ['worker-f10', [run(2.7)]],
      ['pooled-f10', [run(1.0, 1000)]],
      ['floor-f10', [run(1.5, 1600)]],
      ['pooled-f50', [run(0.5)]],
      ['floor-f50', [run(0.9)]],
    ]);
    const [worker, pooled, floor, , floor50] = summarize(configurations, runs);
    expect(floor!.ratios.cpuToPooled).toBeCloseTo(1.5, 9);
    // 625 msg/s against 1000 msg/s.
    expect(floor!.ratios.toPooled).toBeCloseTo(0.625, 9);
    expect(floor!.ratios.cpuToFloor).toBeUndefined();
    expect(floor50!.ratios.cpuToPooled).toBeCloseTo(1.8, 9);
    expect(worker!.ratios.cpuToPooled).toBeCloseTo(2.7, 9);
    expect(worker!.ratios.cpuToFloor).toBeCloseTo(1.8, 9);
    expect(pooled!.ratios).toEqual({});
    expect(floor!.awsCallsPer100['DynamoDB.UpdateItem']!.median).toBe(100);
  });

  it('gives the worker no floor ratio when the run has no floor (--floor=none)', () => {
    const [worker] = summarize([config('worker'), config('pooled')], new Map([['worker-f10', [run(2.7)]], ['pooled-f10', [run(1.0)]]]));
    expect(worker!.ratios.cpuToPooled).toBeCloseTo(2.7, 9);
    expect(worker!.ratios.cpuToFloor).toBeUndefined();
  });
});
