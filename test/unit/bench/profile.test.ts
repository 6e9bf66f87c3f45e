/**
 * bench/profile.ts: a window's samples by package and group, and ms per message from the sidecar's
 * counts (the share of the samples × process.cpuUsage()), side by side for several windows.
 */
import { describe, expect, it } from 'vitest';
import { byGroup, compareByGroup, cpuByPackage, msPerMessage } from '../../../bench/profile.js';

describe('cpuByPackage', () => {
  it('sums self time per node, leaves idle out, charges unmapped code to Node internals and keeps (garbage collector)', () => {
    const frame = (functionName: string) => ({ functionName, url: '', lineNumber: 0, columnNumber: 0 });
    const profile = {
      nodes: [
        { id: 1, callFrame: frame('(root)'), children: [2, 3, 4] },
        { id: 2, callFrame: frame('(idle)') },
        { id: 3, callFrame: frame('(garbage collector)') },
        { id: 4, callFrame: frame('writev') },
      ],
      samples: [2, 3, 4, 4, 2],
      timeDeltas: [5000, 1000, 2000, 3000, 9000],
    };
    const { total, rows } = cpuByPackage(profile);
    expect(total).toBe(6);
    expect(rows).toEqual([
      ['node internals / native', 5],
      ['(garbage collector)', 1],
    ]);
  });
});

describe('msPerMessage and compareByGroup', () => {
  const worker = { name: 'worker-r10-no-delay.round1', total: 1000, messages: 200, cpuMs: 800, groups: byGroup([['nodemailer', 400], ['@smithy/core', 250], ['@aws-sdk/core', 50], ['lambda/core/relay', 300]]) };
  const pooled = { name: 'pooled-r10-no-delay.round1', total: 500, messages: 250, groups: byGroup([['nodemailer', 450], ['(garbage collector)', 50]]) };

  it('scales a group\'s sampled ms to process.cpuUsage() when the sidecar gives it, else divides by the messages', () => {
    // 300 of 1000 sampled ms, 800 ms of CPU, 200 messages: 1.2 ms/msg.
    expect(msPerMessage(300, worker)).toBeCloseTo(1.2, 9);
    expect(msPerMessage(450, pooled)).toBeCloseTo(1.8, 9);
    expect(msPerMessage(450, { total: 500 })).toBeUndefined();
  });

  it('puts the windows side by side, groups summed, with the sampled and cpuUsage totals per message', () => {
    const table = compareByGroup([worker, { name: 'no-count', total: 10, groups: [] }, pooled]).split('\n');
    expect(table[0]).toMatch(/^CPU ms per message by group +worker-r10-no-delay\.round1 \(200\) +pooled-r10-no-delay\.round1 \(250\)$/);
    const row = (name: string): string[] => table.find((l) => l.startsWith(name))!.slice(name.length).trim().split(/\s+/);
    expect(row('nodemailer (MIME composition, SMTP client)')).toEqual(['1.600', '1.800']);
    expect(row('AWS SDK v3 (@aws-sdk/*, @smithy/*)')).toEqual(['1.200', '0.000']);
    expect(row('mailrelay code (lambda/**)')).toEqual(['1.200', '0.000']);
    expect(row('garbage collector')).toEqual(['0.000', '0.200']);
    expect(row('sampled ms (idle excluded) / msg')).toEqual(['5.000', '2.000']);
    expect(row('process.cpuUsage() / msg')).toEqual(['4.000', '–']);
    expect(table.some((l) => l.includes('no-count'))).toBe(false);
    expect(compareByGroup([{ name: 'x', total: 1, groups: [] }])).toBe('');
  });
});
