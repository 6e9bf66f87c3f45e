/**
 * bench/profile.ts: a window's samples by package and group, and ms per message from the sidecar's
 * counts (the share of the samples × process.cpuUsage()), side by side for several windows.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { byGroup, compareByGroup, cpuByPackage, msPerMessage } from '../../../bench/profile.js';

const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));

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

  it('given the window (the sidecar), leaves out the samples before and after it: the profiler\'s own start and stop', () => {
    const frame = (functionName: string) => ({ functionName, url: '', lineNumber: 0, columnNumber: 0 });
    const profile = { nodes: [{ id: 1, callFrame: frame('(root)'), children: [2, 3] }, { id: 2, callFrame: frame('dispatch') }, { id: 3, callFrame: frame('writev') }], samples: [2, 3, 3, 3, 2], timeDeltas: [500, 1000, 1000, 1000, 1000] };
    // Samples at 0.5, 1.5, 2.5, 3.5 and 4.5 ms: the window 1-4 ms holds the three writev samples.
    expect(cpuByPackage(profile, { windowStartMs: 1, windowEndMs: 4 })).toEqual({ total: 3, rows: [['node internals / native', 3]] });
    expect(cpuByPackage(profile).total).toBe(4.5);
  });

  describe('through a bundle\'s source map', () => {
    // A two-line "bundle": line 0 is bench/client.ts, line 1 lambda/core/smtp/session.ts.
    const dir = mkdtempSync(join(tmpdir(), 'mailrelay-profile-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const bundle = join(dir, 'client.mjs');
    writeFileSync(bundle, 'a\nb\n');
    const sources = ['bench/client.ts', 'lambda/core/smtp/session.ts'].map((f) => pathToFileURL(join(REPO_ROOT, f)).href);
    writeFileSync(`${bundle}.map`, JSON.stringify({ version: 3, sources, names: [], mappings: 'AAAA;ACAA' }));
    const url = pathToFileURL(bundle).href;
    const at = (functionName: string, lineNumber: number) => ({ functionName, url, lineNumber, columnNumber: 0 });
    const native = (functionName: string) => ({ functionName, url: '', lineNumber: 0, columnNumber: 0 });

    it('charges native time to the nearest bundled caller, but sees through the bench\'s stdout counter to the logger', () => {
      const profile = {
        nodes: [
          { id: 1, callFrame: native('(root)'), children: [2, 5] },
          { id: 2, callFrame: at('log', 1), children: [3] },
          { id: 3, callFrame: at('stream.write', 0), children: [4] },
          { id: 4, callFrame: native('writeUtf8String') },
          { id: 5, callFrame: at('pollWindow', 0), children: [6] },
          { id: 6, callFrame: native('writev') },
        ],
        samples: [4, 4, 6],
        timeDeltas: [1000, 1000, 1000],
      };
      expect(cpuByPackage(profile).rows).toEqual([
        ['lambda/core/smtp', 2],
        ['bench/client', 1],
      ]);
    });
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
