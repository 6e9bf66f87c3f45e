/**
 * Where a client's CPU goes, by package: reads V8 CPU profiles written by
 * `BENCH_CPU_PROFILE_DIR=/tmp/prof npm run bench -- ...` (one `.cpuprofile` per client process)
 * and maps every sample through the bundles' source maps to the package it came from. Time
 * spent in Node internals or native code is charged to the nearest bundled caller.
 *
 *   npx tsx bench/profile.ts /tmp/prof/CPU.*.cpuprofile
 */
import { readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

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

/** CPU milliseconds per package (idle excluded), largest first. */
export function cpuByPackage(profile: CpuProfile): { total: number; rows: [string, number][] } {
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
    return packageOf(relative(REPO_ROOT, source));
  };
  const selfTime = new Map<number, number>();
  profile.samples.forEach((id, i) => selfTime.set(id, (selfTime.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
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
  if (name.startsWith('bench/')) return 'bench harness (the local SQS poller)';
  if (name === '(garbage collector)') return 'garbage collector';
  if (name === 'node internals / native') return 'Node internals / native (sockets, TLS, HTTP, stdout)';
  return 'other';
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    process.stderr.write('usage: npx tsx bench/profile.ts <file.cpuprofile>...\n');
    process.exit(2);
  }
  for (const file of files) {
    const { total, rows } = cpuByPackage(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile);
    process.stdout.write(`${file}: ${total.toFixed(0)} ms CPU (idle excluded)\n`);
    for (const [name, ms] of rows.slice(0, 25)) process.stdout.write(`${ms.toFixed(0).padStart(8)} ms  ${((ms * 100) / total).toFixed(1).padStart(5)} %  ${name}\n`);
    const groups = new Map<string, number>();
    for (const [name, ms] of rows) groups.set(groupOf(name), (groups.get(groupOf(name)) ?? 0) + ms);
    process.stdout.write('  by group:\n');
    for (const [name, ms] of [...groups].sort((a, b) => b[1] - a[1])) process.stdout.write(`${ms.toFixed(0).padStart(8)} ms  ${((ms * 100) / total).toFixed(1).padStart(5)} %  ${name}\n`);
    process.stdout.write('\n');
  }
}
