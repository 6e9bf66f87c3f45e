/**
 * The bench's pure helpers: the worker table's title follows the batch shapes it shows, and the
 * cold-init ratio pairs each round's samples.
 */
import { describe, expect, it } from 'vitest';
import { fastestRatio, pairedRatio } from '../../../bench/coldInit.js';
import { batchShapes } from '../../../bench/report.js';

describe('batchShapes', () => {
  it('names the one shape every worker row has', () => {
    expect(batchShapes([{ batchSize: 10, inFlight: 10 }, { batchSize: 10, inFlight: 10 }])).toBe('batches of 10, 10 records in flight');
    expect(batchShapes([{ batchSize: 100, inFlight: 50 }])).toBe('batches of 100, 50 records in flight');
  });

  it('says the shape is per row when rows differ (batch 10 and batch 100)', () => {
    expect(batchShapes([{ batchSize: 10, inFlight: 10 }, { batchSize: 100, inFlight: 10 }])).toBe('batch size and records in flight per row');
  });
});

describe('pairedRatio', () => {
  it('divides each round by the baseline of the same round and takes the median', () => {
    // A busy round slows both: paired, it does not move the ratio.
    const handler = [{ importMs: 100, initMs: 10 }, { importMs: 300, initMs: 30 }, { importMs: 120, initMs: 12 }];
    const bare = [{ importMs: 90, initMs: 10 }, { importMs: 270, initMs: 30 }, { importMs: 50, initMs: 10 }];
    const ratio = pairedRatio(handler, bare);
    expect(ratio.median).toBeCloseTo(1.1, 5);
    expect(ratio.max).toBeCloseTo(2.2, 5);
    expect(ratio.n).toBe(3);
  });
});

describe('fastestRatio', () => {
  it('divides the fastest sample by the baseline\'s fastest, whatever round each came from', () => {
    const handler = [{ importMs: 300, initMs: 30 }, { importMs: 120, initMs: 12 }];
    const bare = [{ importMs: 60, initMs: 6 }, { importMs: 200, initMs: 20 }];
    expect(fastestRatio(handler, bare)).toBeCloseTo(2, 6);
    expect(fastestRatio([], bare)).toBe(0);
  });
});
