/**
 * Where a client's CPU goes, by package: reads V8 CPU profiles written by
 * `BENCH_CPU_PROFILE_DIR=/tmp/prof npm run bench -- ...` and maps every sample through the
 * bundles' source maps to the package it came from. Time spent in Node internals or native code
 * is charged to the nearest bundled caller.
 *
 * Each profile covers one phase's timed window only (bench/client.ts starts V8's profiler through
 * node:inspector just before the window and stops it just after: no startup, compile or warm-up
 * in it), named `<configuration>.round<N>.cpuprofile`, e.g. `worker-r10-no-delay.round1.cpuprofile`.
 * Next to it, `<configuration>.round<N>.json` holds the window's messages delivered, wall ms,
 * `process.cpuUsage()` ms and where the window lies in the profile (samples outside it, the
 * profiler's own start and stop, are dropped), so every figure is also printed per message;
 * `--messages=N` stands in for a profile without one. The bench's stdout counter is transparent:
 * the function's log writes are charged to its logger, not to the bench harness. Given several profiles with message counts, a last table puts their
 * ms per message by group side by side (worker vs floor vs raw pooled: where the worker's CPU
 * above the floor goes).
 *
 *   npx tsx bench/profile.ts /tmp/prof/worker-r10-no-delay.round1.cpuprofile /tmp/prof/floor-r10-no-delay.round1.cpuprofile
 *   npx tsx bench/profile.ts --messages=1500 some.cpuprofile
 *
 * Samples count the main thread's time out of idle, on CPU or not (on a busy machine a descheduled
 * thread still collects samples), while `process.cpuUsage()` counts CPU time of every thread (GC
 * helpers, the libuv pool) and the kernel's on the process's behalf. So with a sidecar, ms per
 * message are each group's share of the samples × the window's `process.cpuUsage()` per message
 * (the figure the bench's tables report); without one, sampled ms ÷ `--messages`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { basename, dirname, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ProfileSidecar } from './client.js';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number; readonly columnNumber: number };
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** `node_modules/@smithy/core/...` → `@smithy/core`; `lambda/core/message/x.ts` → `lambda/core/message`. */
export function packageOf(source: string): string {
  const dependency = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(source);
  if (dependency) return dependency[1]!;
  const own = /(?:^|\/)((?:lambda|bench|local)\/.*)$/.exec(source);
  if (own) return own[1]!.split('/').slice(0, 3).join('/').replace(/\.ts$/, '');
  return source;
}

/** Where the phase's window lies in a profile, ms from its start (bench/client.ts's sidecar). */
export interface ProfileWindow {
  readonly windowStartMs: number;
  readonly windowEndMs: number;
}

/**
 * The bench's output counter (bench/client.ts wraps stdout/stderr `write`) is transparent: a log
 * line's write is charged to whoever wrote it (Powertools' logger), not to the bench.
 */
const TRANSPARENT = new Set(['bench/client:stream.write']);

/**
 * CPU milliseconds per package (idle excluded), largest first. Given the window, samples outside
 * it (the profiler's own start and stop) are left out.
 */
export function cpuByPackage(profile: CpuProfile, window?: ProfileWindow): { total: number; rows: [string, number][] } {
  const maps = new Map<string, SourceMap | null>();
  const mapOf = (url: string): SourceMap | null => {
    if (!url.startsWith('file://') || !url.endsWith('.mjs')) return null;
    if (!maps.has(url)) {
      try {
        maps.set(url, new SourceMap(JSON.parse(readFileSync(`${fileURLToPath(url)}.map`, 'utf8')) as ConstructorParameters<typeof SourceMap>[0]));
      } catch {
        maps.set(url, null);
      }
    }
    return maps.get(url) ?? null;
  };
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parents = new Map<number, number>();
  for (const n of profile.nodes) for (const child of n.children ?? []) parents.set(child, n.id);
  const bundled = (n: ProfileNode): string | undefined => {
    const map = mapOf(n.callFrame.url);
    if (!map) return undefined;
    const entry = map.findEntry(n.callFrame.lineNumber, n.callFrame.columnNumber) as { originalSource?: string };
    if (!entry.originalSource) return undefined;
    // Sources are relative to the map (`../../lambda/core/relay.ts`, `../../node_modules/...`).
    const source = entry.originalSource.startsWith('file://') ? fileURLToPath(entry.originalSource) : resolve(dirname(fileURLToPath(n.callFrame.url)), entry.originalSource);
    const owner = packageOf(relative(REPO_ROOT, source));
    return TRANSPARENT.has(`${owner}:${n.callFrame.functionName}`) ? undefined : owner;
  };
  const selfTime = new Map<number, number>();
  let at = 0;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (window && (at / 1000 < window.windowStartMs || at / 1000 > window.windowEndMs)) return;
    selfTime.set(id, (selfTime.get(id) ?? 0) + delta);
  });
  const totals = new Map<string, number>();
  let total = 0;
  for (const [id, micros] of selfTime) {
    const node = nodes.get(id)!;
    if (node.callFrame.functionName === '(idle)') continue;
    let owner: string | undefined;
    for (let cursor: number | undefined = id; cursor !== undefined && !owner; cursor = parents.get(cursor)) owner = bundled(nodes.get(cursor)!);
    const key = owner ?? (node.callFrame.functionName.startsWith('(') ? node.callFrame.functionName : 'node internals / native');
    totals.set(key, (totals.get(key) ?? 0) + micros / 1000);
    total += micros / 1000;
  }
  return { total, rows: [...totals].sort((a, b) => b[1] - a[1]) };
}

/** Coarser groups for docs/performance.md: whose code the CPU went to. */
export function groupOf(name: string): string {
  if (/^@(aws-sdk|smithy|aws-crypto)\//.test(name)) return 'AWS SDK v3 (@aws-sdk/*, @smithy/*)';
  if (name === 'nodemailer') return 'nodemailer (MIME composition, SMTP client)';
  if (name.startsWith('lambda/')) return 'mailrelay code (lambda/**)';
  if (/^@(aws-lambda-powertools|middy)\//.test(name)) return 'Powertools + middy';
  if (name === 'zod') return 'zod (message and config validation)';
  if (name.startsWith('bench/')) return 'bench harness (the worker\'s local SQS poller; the send loop)';
  if (name === '(garbage collector)') return 'garbage collector';
  if (name === 'node internals / native') return 'Node internals / native (sockets, TLS, HTTP, stdout)';
  return 'other';
}

/** Package rows summed by {@link groupOf}, largest first. */
export function byGroup(rows: readonly (readonly [string, number])[]): [string, number][] {
  const groups = new Map<string, number>();
  for (const [name, ms] of rows) groups.set(groupOf(name), (groups.get(groupOf(name)) ?? 0) + ms);
  return [...groups].sort((a, b) => b[1] - a[1]);
}

/** One profiled window: its groups (ms), and the sidecar's counts when known. */
export interface ProfiledWindow {
  readonly name: string;
  readonly groups: readonly (readonly [string, number])[];
  readonly total: number;
  readonly messages?: number;
  /** `process.cpuUsage()` over the same window (the sidecar), ms. */
  readonly cpuMs?: number;
}

/** ms per message of `ms` sampled in `window`: its share of the samples × cpuUsage when known, else sampled ms ÷ messages. */
export function msPerMessage(ms: number, window: Pick<ProfiledWindow, 'total' | 'messages' | 'cpuMs'>): number | undefined {
  if (!window.messages) return undefined;
  const scale = window.cpuMs !== undefined && window.total > 0 ? window.cpuMs / window.total : 1;
  return (ms * scale) / window.messages;
}

/**
 * ms per message by group ({@link msPerMessage}), one column per window (windows without a message
 * count are left out), groups in the first window's order; then the sampled total and `process.cpuUsage()`.
 */
export function compareByGroup(windows: readonly ProfiledWindow[]): string {
  const counted = windows.filter((w): w is ProfiledWindow & { messages: number } => (w.messages ?? 0) > 0);
  if (counted.length === 0) return '';
  const names = [...new Set(counted.flatMap((w) => w.groups.map(([name]) => name)))];
  const cell = (ms: number | undefined): string => (ms === undefined ? '–' : ms.toFixed(3));
  const rows: string[][] = [
    ...names.map((name) => [name, ...counted.map((w) => cell(msPerMessage(w.groups.find(([g]) => g === name)?.[1] ?? 0, w)))]),
    ['sampled ms (idle excluded) / msg', ...counted.map((w) => cell(w.total / w.messages))],
    ['process.cpuUsage() / msg', ...counted.map((w) => cell(w.cpuMs === undefined ? undefined : w.cpuMs / w.messages))],
  ];
  const header = ['CPU ms per message by group', ...counted.map((w) => `${w.name} (${w.messages})`)];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** `x.cpuprofile` → `x.json` (bench/client.ts's sidecar), if there is one. */
function sidecarOf(file: string): ProfileSidecar | undefined {
  const path = file.replace(/\.cpuprofile$/, '.json');
  if (path === file || !existsSync(path)) return undefined;
  return JSON.parse(readFileSync(path, 'utf8')) as ProfileSidecar;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const messagesFlag = args.find((a) => a.startsWith('--messages='));
  const files = args.filter((a) => a !== messagesFlag);
  const messagesGiven = messagesFlag ? Number(messagesFlag.slice('--messages='.length)) : undefined;
  if (files.length === 0 || (messagesGiven !== undefined && !(Number.isInteger(messagesGiven) && messagesGiven > 0))) {
    process.stderr.write('usage: npx tsx bench/profile.ts [--messages=N] <file.cpuprofile>...\n  --messages: a positive integer, for profiles without a <name>.json sidecar\n');
    process.exit(2);
  }
  const windows: ProfiledWindow[] = [];
  for (const file of files) {
    const sidecar = sidecarOf(file);
    const { total, rows } = cpuByPackage(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, sidecar);
    const messages = sidecar?.delivered ?? messagesGiven;
    const window = { total, ...(messages ? { messages } : {}), ...(sidecar ? { cpuMs: sidecar.cpuMs } : {}) };
    const perMsg = (ms: number): string => (messages ? `${msPerMessage(ms, window)!.toFixed(3).padStart(8)} ms/msg  ` : '');
    process.stdout.write(
      `${file}: ${total.toFixed(0)} ms sampled (idle excluded)${messages ? `, ${messages} messages` : ''}` +
        `${sidecar ? `; process.cpuUsage() ${(sidecar.cpuMs / sidecar.delivered).toFixed(3)} ms/msg (ms/msg below: share × that)` : messages ? ' (ms/msg below: sampled ÷ messages)' : ''}\n`,
    );
    for (const [name, ms] of rows.slice(0, 25)) process.stdout.write(`${ms.toFixed(0).padStart(8)} ms  ${perMsg(ms)}${((ms * 100) / total).toFixed(1).padStart(5)} %  ${name}\n`);
    const groups = byGroup(rows);
    process.stdout.write('  by group:\n');
    for (const [name, ms] of groups) process.stdout.write(`${ms.toFixed(0).padStart(8)} ms  ${perMsg(ms)}${((ms * 100) / total).toFixed(1).padStart(5)} %  ${name}\n`);
    process.stdout.write('\n');
    windows.push({ name: basename(file).replace(/\.cpuprofile$/, ''), groups, ...window });
  }
  const comparison = windows.filter((w) => w.messages).length > 1 ? compareByGroup(windows) : '';
  if (comparison) process.stdout.write(`${comparison}\n`);
}
