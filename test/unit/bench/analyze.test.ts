/**
 * The modeled invocation (bench/analyze.ts): the emulator's claim and settle latency on the
 * invocation's path replaced by one round trip each.
 */
import { describe, expect, it } from 'vitest';
import { modeledInvocationMs } from '../../../bench/analyze.js';

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
