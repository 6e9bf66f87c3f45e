/**
 * `npm run bench -- --smoke` end to end, so the bench cannot rot: tiny counts, one round, every
 * configuration, a fresh output directory. Asserts the shape and sanity of what it writes, never
 * how fast anything was.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigurationResult, CostEstimate } from '../../bench/analyze.js';
import type { ColdInitResult } from '../../bench/coldInit.js';
import type { LimitsRun } from '../../bench/limits.js';
import type { AuthHookRun } from '../../bench/authHook.js';
import type { PayloadRun } from '../../bench/payloads.js';
import { byGroup, cpuByPackage } from '../../bench/profile.js';
import type { ProfileSidecar } from '../../bench/client.js';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
// Generous: on a loaded machine (CI neighbours, parallel work) the smoke run takes minutes, not seconds.
const RUN_TIMEOUT_MS = 400_000;

interface Results {
  mode: string;
  machine: { cpus: number; node: string };
  relays: { greeting: string; port: number; greetingMs: number }[];
  bundles: { handler: { startBytes: number; bytes: number; gzipBytes: number }; bare: { startBytes: number; bytes: number } };
  coldInit: ColdInitResult[];
  configurations: ConfigurationResult[];
  cost: { prices: { sesPerMessage: number }; estimates: CostEstimate[] };
  limits: LimitsRun[];
  authHook?: AuthHookRun;
  payloads: PayloadRun[];
}

let dir: string;
let exitCode: number | null;
let stdout = '';
let stderr = '';
let results: Results;

function runSmoke(outDir: string): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--smoke', `--out-dir=${outDir}`, `--build-dir=${join(outDir, 'build')}`], {
      cwd: REPO_ROOT,
      // Profiles of each timed window (bench/profile.ts), so that switch is exercised too.
      env: { ...process.env, BENCH_CPU_PROFILE_DIR: join(outDir, 'profiles') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS - 5_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

const byId = (id: string): ConfigurationResult => {
  const found = results.configurations.find((c) => c.id === id);
  if (!found) throw new Error(`no configuration ${id}`);
  return found;
};

beforeAll(async () => {
  // Prepare
  dir = mkdtempSync(join(tmpdir(), 'mailrelay-bench-'));
  // Act
  exitCode = await runSmoke(dir);
  if (exitCode === 0) results = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as Results;
}, RUN_TIMEOUT_MS);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('npm run bench -- --smoke', () => {
  it('exits 0 and prints every table', () => {
    expect(exitCode, stderr.slice(-3000)).toBe(0);
    for (const title of ['Throughput and client CPU', 'Worker invocations', 'AWS API calls per 100 messages', 'Estimated AWS cost per million', 'Cold init', 'Bundle size', 'Delivery events and S3 payloads']) {
      expect(stdout).toContain(title);
    }
  });

  it('measures every configuration of both greeting modes, all messages delivered', () => {
    expect(results.mode).toBe('smoke');
    const expected = ['delay', 'no-delay'].flatMap((g) => [
      `worker-r1-${g}`,
      `pooled-r1-${g}`,
      `floor-r1-${g}`,
      `worker-r10-${g}`,
      `pooled-r10-${g}`,
      `floor-r10-${g}`,
      `naive-serial-r1-${g}`,
      `naive-16-r1-${g}`,
    ]);
    expect(results.configurations.map((c) => c.id).sort()).toEqual(expected.sort());
    for (const c of results.configurations) {
      expect(c.failed, c.id).toBe(0);
      expect(c.runs, c.id).toHaveLength(1);
      expect(c.runs[0]!.delivered, c.id).toBe(c.messages);
      expect(c.msgPerSec.median, c.id).toBeGreaterThan(0);
      expect(c.cpuMsPerMsg.median, c.id).toBeGreaterThan(0);
      expect(c.relayCpuMsPerMsg.median, c.id).toBeGreaterThan(0);
      expect(c.peakRssMb.max, c.id).toBeGreaterThan(0);
      expect(c.messageBytes, c.id).toBeGreaterThan(2_000);
    }
    expect(results.relays.map((r) => r.greeting).sort()).toEqual(['delay', 'no-delay']);
  });

  it('breaks a worker invocation down by stage and models the emulator out of it', () => {
    expect(stdout).toContain("Where a worker invocation's wall time goes");
    for (const c of results.configurations.filter((r) => r.kind === 'worker')) {
      // Every record is parsed, claimed, composed and sent; every batch settles once.
      for (const stage of ['parse', 'claim', 'config', 'compose', 'session', 'smtp', 'records', 'settle']) expect(c.stageMs?.[stage]?.median, `${c.id} ${stage}`).toBeGreaterThanOrEqual(0);
      expect(c.stageMs!['records']!.median, c.id).toBeGreaterThan(0);
      expect(c.awsServiceMsPerCall?.['DynamoDB.UpdateItem']?.median, c.id).toBeGreaterThan(0);
      expect(c.awsClientMsPerCall?.['DynamoDB.UpdateItem']?.median, c.id).toBeGreaterThan(0);
      expect(c.modeledInvocationMs?.median, c.id).toBeGreaterThanOrEqual(0);
      expect(c.awsModelMs, c.id).toBe(4);
    }
    const cost = results.cost.estimates.find((e) => e.configuration === 'worker-r10-no-delay')!;
    expect(cost.perMillion.totalModeled).toBeGreaterThan(0);
  });

  it('counts the worker\'s AWS calls and invocations, and relates it to the alternatives', () => {
    const worker = byId('worker-r10-no-delay');
    // Every message claims its idempotency key; a batch's settles go out in one BatchWriteItem
    // (issue 17); every batch is received and deleted.
    expect(worker.awsCallsPer100['DynamoDB.UpdateItem']?.median).toBe(100);
    expect(worker.awsCallsPer100['DynamoDB.BatchWriteItem']?.median).toBeGreaterThan(0);
    expect(worker.awsCallsPer100['DynamoDB.BatchWriteItem']?.median).toBeLessThanOrEqual(20);
    expect(worker.writeUnitsPer100?.median).toBe(200);
    expect(worker.awsCallsPer100['SQS.ReceiveMessage']?.median).toBeGreaterThan(0);
    expect(worker.awsCallsPer100['SQS.DeleteMessageBatch']?.median).toBeGreaterThan(0);
    // Delivery events: one PutEvents per batch of up to 10 single-recipient messages (docs/events.md).
    expect(worker.awsCallsPer100['EventBridge.PutEvents']?.median).toBeGreaterThan(0);
    expect(worker.awsCallsPer100['EventBridge.PutEvents']?.median).toBeLessThanOrEqual(worker.awsCallsPer100['SQS.ReceiveMessage']!.median);
    expect(worker.messagesPerBatch?.median).toBeGreaterThan(0);
    expect(worker.handlerMsPerBatch?.median).toBeGreaterThan(0);
    expect(worker.logBytesPerMsg.median).toBeGreaterThan(0);
    expect(worker.ratios.toPooled).toBeGreaterThan(0);
    expect(worker.ratios.toNaiveSerial).toBeGreaterThan(0);
    expect(worker.ratios.toNaive16).toBeGreaterThan(0);
  });

  it('runs the floor: raw pooled plus exactly one claim (a DynamoDB UpdateItem) per message, related to raw pooled and the worker', () => {
    for (const g of ['delay', 'no-delay']) {
      for (const routes of [1, 10]) {
        const floor = byId(`floor-r${routes}-${g}`);
        // A claim that did not succeed counts as failed: 0 failed means every claim claimed.
        expect(floor.failed, floor.id).toBe(0);
        expect(floor.awsCallsPer100, floor.id).toEqual({ 'DynamoDB.UpdateItem': { median: 100, min: 100, max: 100, n: 1 } });
        expect(floor.messages, floor.id).toBe(byId(`pooled-r${routes}-${g}`).messages);
        expect(floor.ratios.cpuToPooled, floor.id).toBeGreaterThan(0);
        expect(floor.ratios.toPooled, floor.id).toBeGreaterThan(0);
        expect(byId(`worker-r${routes}-${g}`).ratios.cpuToFloor, floor.id).toBeGreaterThan(0);
        expect(byId(`pooled-r${routes}-${g}`).awsCallsPer100, floor.id).toEqual({});
      }
    }
    expect(stdout).toContain('floor = raw pooled nodemailer that first makes the worker\'s idempotency claim');
  });

  it('profiles each timed window (BENCH_CPU_PROFILE_DIR): a profile and its counts per phase, mapped to packages through the source maps', () => {
    for (const c of results.configurations) {
      const base = join(dir, 'profiles', `${c.id}.round1`);
      const sidecar = JSON.parse(readFileSync(`${base}.json`, 'utf8')) as ProfileSidecar;
      expect(sidecar.delivered, c.id).toBe(c.runs[0]!.delivered);
      expect(sidecar.cpuMs / sidecar.delivered, c.id).toBeCloseTo(c.cpuMsPerMsg.median, 6);
      expect(sidecar.kind, c.id).toBe(c.kind.startsWith('naive') ? 'naive' : c.kind);
    }
    const groups = (id: string) => new Map(byGroup(cpuByPackage(JSON.parse(readFileSync(join(dir, 'profiles', `${id}.round1.cpuprofile`), 'utf8')) as Parameters<typeof cpuByPackage>[0]).rows));
    const worker = groups('worker-r10-no-delay');
    for (const group of ['nodemailer (MIME composition, SMTP client)', 'AWS SDK v3 (@aws-sdk/*, @smithy/*)', 'mailrelay code (lambda/**)']) expect(worker.get(group), group).toBeGreaterThan(0);
    expect(groups('floor-r10-no-delay').get('AWS SDK v3 (@aws-sdk/*, @smithy/*)')).toBeGreaterThan(0);
    expect(groups('pooled-r10-no-delay').has('AWS SDK v3 (@aws-sdk/*, @smithy/*)')).toBe(false);
  });

  it('sees the naive alternative open one connection and one AUTH per message', () => {
    for (const id of ['naive-serial-r1-delay', 'naive-16-r1-no-delay']) {
      expect(byId(id).connectionsPer100.median, id).toBe(100);
      expect(byId(id).authPer100.median, id).toBe(100);
    }
  });

  it('reports cold init, bundle sizes and a cost per million next to SES', () => {
    expect(results.coldInit.map((c) => c.id)).toEqual(['handler-bundle', 'handler-bundle-source-maps', 'bare-bundle', 'bare-node-modules']);
    // The cold-init target's ratio, paired per round, on the handler rows only.
    expect(results.coldInit.filter((c) => c.toBare).map((c) => c.id)).toEqual(['handler-bundle', 'handler-bundle-source-maps']);
    expect(results.coldInit.find((c) => c.id === 'handler-bundle')!.toBare!.median).toBeGreaterThan(0);
    expect(results.coldInit.find((c) => c.id === 'handler-bundle')!.toBareFastest).toBeGreaterThan(0);
    for (const c of results.coldInit) {
      expect(c.totalMs.n, c.id).toBe(2);
      expect(c.importMs.median, c.id).toBeGreaterThan(0);
    }
    expect(results.bundles.handler.bytes).toBeGreaterThan(results.bundles.bare.bytes);
    expect(results.bundles.handler.gzipBytes).toBeGreaterThan(0);
    // Split (infra/relayBundle.ts): the clients only some messages need are chunks not loaded at start.
    expect(results.bundles.handler.startBytes).toBeGreaterThan(0);
    expect(results.bundles.handler.startBytes).toBeLessThan(results.bundles.handler.bytes);
    expect(results.bundles.bare.startBytes).toBeLessThanOrEqual(results.bundles.bare.bytes);
    expect(results.cost.estimates.map((e) => e.configuration).sort()).toEqual(['worker-r1-delay', 'worker-r1-no-delay', 'worker-r10-delay', 'worker-r10-no-delay']);
    for (const e of results.cost.estimates) {
      expect(e.perMillion.total).toBeGreaterThan(0);
      expect(e.perMillion.ses).toBeCloseTo(100, 6);
      expect(e.perMillion.eventBridge).toBeCloseTo(1, 6);
    }
  });

  it('draws the chart', () => {
    const svg = readFileSync(join(dir, 'chart.svg'), 'utf8');
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    expect(svg).toContain('mailrelay worker · 10 routes');
    expect(svg).toContain('naive, 16 in flight');
    expect(svg).toContain('SMOKE RUN');
  });
  it('runs the limits phase: never more than L sessions nor R + one second of burst in any second; each message once', () => {
    expect(results.limits.map((r) => r.workers)).toEqual([1, 2]);
    for (const run of results.limits) {
      expect(run.delivered).toBe(run.messages);
      expect(run.duplicates).toBe(0);
      expect(run.peakSessions).toBeLessThanOrEqual(run.maxConnections);
      expect(run.peakInOneSecond).toBeLessThanOrEqual(2 * run.messagesPerSecond + 1);
      expect(run.limiterCallsPerMessage).toBeGreaterThan(0);
    }
    expect(stdout).toContain('Fleet-wide limits');
  });

  it('runs the auth hook phase: each message through its own tenant\'s user, hook calls within tenants × cache windows, every tenant on a session of its own', () => {
    const run = results.authHook;
    expect(run).toBeDefined();
    expect(run!.variants.map((v) => v.id)).toEqual(['no-hook', 'hook', 'hook-slow', 'hook-slow-no-cache']);
    for (const v of run!.variants) {
      expect(v.runs, v.id).toHaveLength(1);
      expect(v.msgPerSec.median, v.id).toBeGreaterThan(0);
      expect(v.cpuMsPerMsg.median, v.id).toBeGreaterThan(0);
      expect(v.invocationMs.median, v.id).toBeGreaterThan(0);
      for (const r of v.runs) {
        expect(r.delivered, v.id).toBe(r.totalMessages);
        expect(r.wrongUser, v.id).toBe(0);
        expect(r.duplicates, v.id).toBe(0);
        expect(r.failed, v.id).toBe(0);
        expect(r.sessionsPerTenant.min, v.id).toBeGreaterThanOrEqual(1);
      }
    }
    const [noHook, hook, slow, noCache] = run!.variants.map((v) => ({ ...v, run: v.runs[0]! }));
    expect(noHook!.run.hookCalls).toBe(0);
    for (const v of [hook!, slow!]) {
      // Every tenant was asked; then the cache answered, one call per tenant per TTL at most.
      expect(v.run.hookCalls, v.id).toBeGreaterThanOrEqual(run!.tenants);
      expect(v.run.hookCalls, v.id).toBeLessThanOrEqual(v.run.maxExpectedHookCalls);
      expect(v.run.hookCalls + v.run.cacheHits, v.id).toBe(v.run.totalMessages);
      expect(v.run.hookFailures, v.id).toBe(0);
      expect(v.msgPerSecRatio, v.id).toBeGreaterThan(0);
    }
    expect(noCache!.run.hookCalls).toBe(noCache!.run.totalMessages);
    expect(noCache!.run.cacheHits).toBe(0);
    // The slow hook really waited (a lower bound of its deliberate sleep, not a speed claim).
    expect(slow!.hookMsP50).toBeGreaterThanOrEqual(run!.slowHookMs - 1);
    expect(stdout).toContain('Auth hook (module hook');
  });

  it('runs the payloads phase: per S3 message one PUT (producer), one GET per receive and one DELETE once relayed; one event per recipient, at most 10 per PutEvents', () => {
    expect(results.payloads.map((p) => p.id)).toEqual(['events-1rcpt', 'events-3rcpt', 's3-1mib', 's3-5mib']);
    for (const p of results.payloads) {
      // Every message relayed once, none retried: calls per message are calls per receive.
      expect(p.failed, p.id).toBe(0);
      expect(p.delivered, p.id).toBe(p.messages);
      expect(p.relayed, p.id).toBe(p.messages);
      expect(p.eventsPerMsg, p.id).toBe(p.recipients);
      expect(p.entriesPerPutEvents, p.id).toBeGreaterThan(0);
      expect(p.entriesPerPutEvents, p.id).toBeLessThanOrEqual(10);
      expect(p.putEventsPerMsg * p.messages, p.id).toBeGreaterThanOrEqual(Math.ceil((p.eventsPerMsg * p.messages) / 10));
      expect(p.msgPerSec, p.id).toBeGreaterThan(0);
      expect(p.cpuMsPerMsg, p.id).toBeGreaterThan(0);
    }
    for (const p of results.payloads.filter((r) => r.attachmentBytes > 0)) {
      expect(p.offloaded, p.id).toBe(true);
      expect([p.s3PutPerMsg, p.s3GetPerMsg, p.s3DeletePerMsg], p.id).toEqual([1, 1, 1]);
      expect(p.s3BytesInPerMsg, p.id).toBe(p.bodyBytes);
      expect(p.s3BytesOutPerMsg, p.id).toBe(p.bodyBytes);
      expect(p.bodyBytes, p.id).toBeGreaterThan((p.attachmentBytes * 4) / 3);
      expect(p.smtpBytesPerMsg, p.id).toBeGreaterThan((p.attachmentBytes * 4) / 3);
      // $0.005/1k PUT + $0.0004/1k GET + free DELETE + $1/1M events: $6.40 per million.
      expect(p.addedCostPerMillion.total, p.id).toBeCloseTo(6.4, 6);
    }
    expect(results.payloads.find((p) => p.id === 's3-5mib')?.attachmentBytes).toBe(5 * 1_048_576);
    for (const p of results.payloads.filter((r) => r.attachmentBytes === 0)) {
      expect(p.offloaded, p.id).toBe(false);
      expect([p.s3PutPerMsg, p.s3GetPerMsg, p.s3DeletePerMsg, p.s3BytesOutPerMsg], p.id).toEqual([0, 0, 0, 0]);
      expect(p.addedCostPerMillion.total, p.id).toBeCloseTo(p.recipients, 6);
    }
  });
});
