/**
 * The bench's pure helpers: the worker table's title follows the batch shapes it shows, the
 * cold-init ratio pairs each round's samples, and the throughput table shows the floor row.
 */
import { describe, expect, it } from 'vitest';
import { summarize, type BenchConfiguration, type PhaseRun } from '../../../bench/analyze.js';
import type { BundleInfo } from '../../../bench/build.js';
import { fastestRatio, pairedRatio } from '../../../bench/coldInit.js';
import { batchShapes, FLOOR_NOTE, renderReport, type BenchReport } from '../../../bench/report.js';

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

describe('renderReport: the floor row of the throughput table', () => {
  const bundle: BundleInfo = { path: 'index.mjs', bytes: 1000, startBytes: 900, files: 2, gzipBytes: 300, mapBytes: 2000 };
  const config = (kind: BenchConfiguration['kind'], label: string): BenchConfiguration => ({ id: `${kind}-r10-no-delay`, kind, greeting: 'no-delay', routes: 10, inFlight: 10, messages: 1000, warmup: 50, label });
  const run = (cpuMsPerMsg: number, wallMs: number, aws: Record<string, number>): PhaseRun => ({
    round: 1,
    measurement: { delivered: 1000, failed: 0, wallMs, cpuMs: cpuMsPerMsg * 1000, logBytes: 0, peakRssMb: 100 },
    relay: { connections: 4, messages: 1000, rejected: 0, bytes: 3_000_000, authFailures: 0, errors: 0, cpuMs: 300, commands: { AUTH: 4, MAIL: 1000 } },
    aws,
  });
  const report = (withFloor: boolean): BenchReport => {
    const configurations = [config('worker', 'mailrelay worker (bundle)'), config('pooled', 'raw pooled nodemailer'), ...(withFloor ? [config('floor', "floor: raw pooled + the worker's claim")] : [])];
    const runs = new Map<string, PhaseRun[]>([
      ['worker-r10-no-delay', [run(2.7, 4000, { 'DynamoDB.UpdateItem': 1000, 'DynamoDB.BatchWriteItem': 100 })]],
      ['pooled-r10-no-delay', [run(1.2, 1000, {})]],
      ['floor-r10-no-delay', [run(1.8, 2000, { 'DynamoDB.UpdateItem': 1000 })]],
    ]);
    return { configurations: summarize(configurations, runs), coldInit: [], bundles: { handler: bundle, bare: bundle }, costs: [], relays: [] };
  };
  const rowOf = (markdown: string, label: string): string[] => {
    const line = markdown.split('\n').find((l) => l.startsWith(`| ${label} |`));
    if (!line) throw new Error(`no row ${label}`);
    return line.split(' | ').map((cell) => cell.replace(/^\| |\s*\|$/g, ''));
  };

  it('shows the floor with its msg/s and CPU ratios to raw pooled and its one claim per message, and says what it is', () => {
    const markdown = renderReport(report(true), 'markdown');
    const headers = rowOf(markdown, 'configuration');
    const floor = rowOf(markdown, "floor: raw pooled + the worker's claim");
    const cell = (row: string[], header: string): string => row[headers.indexOf(header)]!;
    expect(cell(floor, 'msg/s')).toBe('500');
    expect(cell(floor, '× raw pooled')).toBe('0.50×');
    expect(cell(floor, 'client CPU ms/msg')).toBe('1.80');
    expect(cell(floor, 'CPU × pooled')).toBe('1.50×');
    expect(cell(floor, 'AWS calls/100')).toBe('100');
    const worker = rowOf(markdown, 'mailrelay worker (bundle)');
    expect(cell(worker, 'CPU × pooled')).toBe('2.25×');
    expect(cell(worker, 'AWS calls/100')).toBe('110');
    expect(cell(rowOf(markdown, 'raw pooled nodemailer'), 'CPU × pooled')).toBe('');
    expect(markdown).toContain(`- ${FLOOR_NOTE}`);
    expect(FLOOR_NOTE).toMatch(/^floor = raw pooled nodemailer that first makes the worker's idempotency claim/);
  });

  it('leaves the floor note out when the run had no floor (--floor=none)', () => {
    const text = renderReport(report(false), 'text');
    expect(text).not.toContain('floor');
    expect(text).toContain('raw pooled nodemailer');
  });
});
