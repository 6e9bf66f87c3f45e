/**
 * The auth hook phase of `npm run bench` (docs/auth-hook.md, issue 19): what the per-message
 * module hook costs. The handler is bundled with bench/authHookModule.ts in place of `#auth-hook`
 * (esbuild `alias`, as the stack's `authHook.entry` does) and drains messages spread over K tenants
 * (`auth.key` = `tenant-<n>`) on one relay, in a fresh client process per variant:
 *
 * - `no-hook`: the plain bundle; each tenant is a config item with its user and a Secrets Manager
 *   secret (what an operator writes per tenant without a hook): the baseline of the ratios.
 * - `hook`: the hooked bundle; the hook answers each tenant's user and password (a literal secret).
 * - `hook-slow`: the same hook waiting SLOW_HOOK_MS per call (a slow lookup): the cache hides it.
 * - `hook-slow-no-cache`: the same with the answer cache off (AUTH_HOOK_CACHE_TTL_SECONDS=0): what
 *   the cache saves.
 *
 * The variants run `rounds` times in a rotating order; the ratios to `no-hook` are the median of
 * each round's ratio (paired, so load that drifts over the run cancels out).
 *
 * Measured: msg/s and client CPU ms/msg over the timed window (bench/client.ts), hook calls and
 * cache hits over the whole run, the hook's call time as the worker sees it (p50/p95 of its recent
 * calls, lambda/core/authHook/runner.ts), and at the relay: every message arrived once, logged in
 * as its own tenant's user, and the sessions each tenant's user opened (a session is never shared
 * across tenants, so every tenant has at least one).
 */
import { DeleteQueueCommand, PurgeQueueCommand, SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { join } from 'node:path';
import { createQueues, type CreatedQueues } from '../local/emulators.js';
import { startSmtpRelay, type SmtpRelay } from '../local/smtpRelay.js';
import type { AuthHookStats } from '../lambda/core/authHook/runner.js';
import { buildDeployed, REPO_ROOT } from './build.js';
import type { PhaseMeasurement, WorkerPhaseSpec } from './client.js';
import { startChild } from './ipc.js';
import { stat, type Stat } from './analyze.js';
import { WORKER_SHAPE } from './options.js';
import { queueBody, routePassword, routeSecretId, routeUser } from './workload.js';

/** The slow variants' wait per hook call (a lookup in a remote data store). */
export const SLOW_HOOK_MS = 50;
/** The worker's default answer cache TTL (AUTH_HOOK_CACHE_TTL_SECONDS unset). */
const DEFAULT_CACHE_TTL_SECONDS = 60;
const STEP_TIMEOUT_MS = 10 * 60_000;
const HOOK_BINDING = 'bench-ah-hook';
const tenantBinding = (tenant: number): string => `bench-ah-t${tenant}`;
const tenantDomain = (tenant: number): string => `t${tenant}.authhook.bench.example`;

interface Variant {
  readonly id: 'no-hook' | 'hook' | 'hook-slow' | 'hook-slow-no-cache';
  readonly label: string;
  readonly hooked: boolean;
  readonly hookDelayMs: number;
  readonly cacheTtlSeconds: number;
}

export const AUTH_HOOK_VARIANTS: readonly Variant[] = [
  { id: 'no-hook', label: 'no hook: a config item + secret per tenant', hooked: false, hookDelayMs: 0, cacheTtlSeconds: DEFAULT_CACHE_TTL_SECONDS },
  { id: 'hook', label: 'module hook', hooked: true, hookDelayMs: 0, cacheTtlSeconds: DEFAULT_CACHE_TTL_SECONDS },
  { id: 'hook-slow', label: `module hook, ${SLOW_HOOK_MS} ms per call`, hooked: true, hookDelayMs: SLOW_HOOK_MS, cacheTtlSeconds: DEFAULT_CACHE_TTL_SECONDS },
  { id: 'hook-slow-no-cache', label: `module hook, ${SLOW_HOOK_MS} ms per call, cache off`, hooked: true, hookDelayMs: SLOW_HOOK_MS, cacheTtlSeconds: 0 },
];

export interface AuthHookWorld {
  readonly runId: string;
  readonly dynamo: DynamoDBClient;
  readonly sqs: SQSClient;
  readonly configTable: string;
  /** The worker environment of the bench (endpoints, tables, CA). */
  readonly env: NodeJS.ProcessEnv;
  /** bench/client.ts, bundled, and the plain handler bundle. */
  readonly client: string;
  readonly handlerBundle: string;
  readonly buildDir: string;
  readonly log: (line: string) => void;
}

export interface AuthHookPhaseOptions {
  /** Tenants (`auth.key` values); each reuses route n's relay user and secret. */
  readonly tenants: number;
  /** Timed messages per variant, after `warmup` untimed ones. */
  readonly messages: number;
  readonly warmup: number;
  /** Runs of every variant, in a rotating order. */
  readonly rounds: number;
}

/** One run of one variant (a fresh client process). */
export interface AuthHookVariantRun {
  readonly round: number;
  /** Warm-up + timed messages enqueued. */
  readonly totalMessages: number;
  /** Messages the relay accepted once, from the session of their own tenant's user. */
  readonly delivered: number;
  /** Messages that arrived through another tenant's user (must be 0), and extra copies. */
  readonly wrongUser: number;
  readonly duplicates: number;
  /** Records the handler reported as failed (retried) in the timed window. */
  readonly failed: number;
  /** Timed window (bench/client.ts). */
  readonly msgPerSec: number;
  readonly cpuMsPerMsg: number;
  /** Wall time of one handler invocation (a batch), ms: what Lambda bills. */
  readonly invocationMs: number;
  /** Whole run (warm-up + window): hook calls, cache hits, and the calls the cache allows. */
  readonly hookCalls: number;
  readonly hookCallsInWindow: number;
  readonly cacheHits: number;
  /** Hits / (calls + hits). */
  readonly cacheHitRatio: number;
  readonly hookFailures: number;
  /** tenants × cache windows over the run (cache off: one per message). */
  readonly maxExpectedHookCalls: number;
  /** One hook call as the worker sees it, ms, over its recent calls; undefined without calls. */
  readonly hookMsP50?: number | undefined;
  readonly hookMsP95?: number | undefined;
  /** Sessions (successful AUTH) per tenant's user over the run. */
  readonly sessionsPerTenant: { readonly min: number; readonly max: number; readonly total: number };
  readonly seconds: number;
}

export interface AuthHookVariantResult {
  readonly id: Variant['id'];
  readonly label: string;
  readonly hookDelayMs: number;
  /** The answer cache's TTL in the worker; 0 = off. */
  readonly cacheTtlSeconds: number;
  readonly runs: readonly AuthHookVariantRun[];
  readonly msgPerSec: Stat;
  readonly cpuMsPerMsg: Stat;
  readonly invocationMs: Stat;
  /** Median over rounds of (this variant ÷ `no-hook` of the same round); undefined for `no-hook`. */
  readonly msgPerSecRatio?: number | undefined;
  readonly cpuRatio?: number | undefined;
  readonly invocationMsRatio?: number | undefined;
  /** Medians over the runs of each run's hook p50 / p95 (ms). */
  readonly hookMsP50?: number | undefined;
  readonly hookMsP95?: number | undefined;
}

export interface AuthHookRun {
  readonly tenants: number;
  readonly warmup: number;
  readonly messages: number;
  readonly rounds: number;
  readonly slowHookMs: number;
  readonly variants: readonly AuthHookVariantResult[];
}

/** The handler bundled with bench/authHookModule.ts as its `#auth-hook`, as the stack bundles `authHook.entry`. */
export async function buildHookedHandler(buildDir: string): Promise<string> {
  return buildDeployed(join(buildDir, 'relay-auth-hook'), { authHookEntry: join(REPO_ROOT, 'bench/authHookModule.ts') }).path;
}

export async function runAuthHookPhase(world: AuthHookWorld, options: AuthHookPhaseOptions): Promise<AuthHookRun | undefined> {
  if (options.tenants < 1) return undefined;
  const hookedBundle = await buildHookedHandler(world.buildDir);
  const users = Object.fromEntries(Array.from({ length: options.tenants }, (_, t) => [routeUser(t), routePassword(world.runId, t)]));
  const relay = await startSmtpRelay({ users, authMethods: ['PLAIN'], socketTimeoutMs: 300_000 });
  const queues = await createQueues(world.sqs, { name: `mailrelay-bench-authhook-${world.runId}`, maxReceiveCount: WORKER_SHAPE.maxReceiveCount, visibilityTimeout: 60 });
  try {
    await writeConfig(world, options.tenants, relay.port);
    const runs = new Map<Variant['id'], AuthHookVariantRun[]>(AUTH_HOOK_VARIANTS.map((v) => [v.id, []]));
    for (let round = 1; round <= options.rounds; round++) {
      for (let i = 0; i < AUTH_HOOK_VARIANTS.length; i++) {
        const variant = AUTH_HOOK_VARIANTS[(i + round - 1) % AUTH_HOOK_VARIANTS.length]!;
        const run = await runVariant(world, options, variant, variant.hooked ? hookedBundle : world.handlerBundle, relay, queues, round);
        world.log(
          `[auth hook ${round}/${options.rounds}] ${variant.id.padEnd(18)} ${run.delivered}/${run.totalMessages} delivered, ${run.msgPerSec.toFixed(1)} msg/s, ${run.cpuMsPerMsg.toFixed(2)} CPU ms/msg, ` +
            `${run.invocationMs.toFixed(0)} ms/invocation, ${run.hookCalls} hook calls, ${run.cacheHits} cache hits, p50 ${run.hookMsP50?.toFixed(1) ?? '–'} ms, ` +
            `sessions/tenant ${run.sessionsPerTenant.min}–${run.sessionsPerTenant.max} (${run.seconds.toFixed(1)} s)`,
        );
        runs.get(variant.id)!.push(run);
      }
    }
    const base = runs.get('no-hook')!;
    const variants = AUTH_HOOK_VARIANTS.map((variant) => summarize(variant, runs.get(variant.id)!, variant.id === 'no-hook' ? undefined : base));
    return { tenants: options.tenants, warmup: options.warmup, messages: options.messages, rounds: options.rounds, slowHookMs: SLOW_HOOK_MS, variants };
  } finally {
    await relay.stop();
    await Promise.all([queues.queueUrl, queues.dlqUrl].map((QueueUrl) => world.sqs.send(new DeleteQueueCommand({ QueueUrl })).catch(() => undefined)));
  }
}

/**
 * One binding for the hooked messages (the relay only: the credentials are the hook's), and one
 * per tenant for the baseline (its user and route n's secret).
 */
async function writeConfig(world: AuthHookWorld, tenants: number, port: number): Promise<void> {
  const documents = DynamoDBDocumentClient.from(world.dynamo);
  const items: Record<string, unknown>[] = [{ scope: `binding#${HOOK_BINDING}`, relay: { port } }];
  for (let t = 0; t < tenants; t++) items.push({ scope: `binding#${tenantBinding(t)}`, relay: { port }, auth: { user: routeUser(t), pass: { secret: routeSecretId(t) } } });
  for (let i = 0; i < items.length; i += 16) {
    await Promise.all(items.slice(i, i + 16).map((Item) => documents.send(new PutCommand({ TableName: world.configTable, Item }))));
  }
}

async function enqueue(world: AuthHookWorld, queueUrl: string, variant: Variant, round: number, tenants: number, total: number): Promise<void> {
  for (let i = 0; i < total; i += 10) {
    const entries = [];
    for (let j = i; j < Math.min(i + 10, total); j++) {
      const tenant = j % tenants;
      const body = JSON.parse(queueBody(`bench-ah-${world.runId}-${variant.id}-${round}-${j}`, `reader${j}@${tenantDomain(tenant)}`)) as Record<string, unknown>;
      body['binding'] = variant.hooked ? HOOK_BINDING : tenantBinding(tenant);
      body['auth'] = { key: `tenant-${tenant}` };
      entries.push({ Id: String(j - i), MessageBody: JSON.stringify(body) });
    }
    const response = await world.sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }));
    if (response.Failed?.length) throw new Error(`auth hook phase: ${response.Failed.length} entries not enqueued: ${response.Failed[0]?.Message ?? ''}`);
  }
}

function summarize(variant: Variant, runs: readonly AuthHookVariantRun[], base: readonly AuthHookVariantRun[] | undefined): AuthHookVariantResult {
  // Paired: each run against the no-hook run of its round.
  const ratio = (pick: (r: AuthHookVariantRun) => number): number | undefined => {
    if (!base) return undefined;
    const values = runs.flatMap((r) => {
      const b = base.find((x) => x.round === r.round);
      return b && pick(b) > 0 ? [pick(r) / pick(b)] : [];
    });
    return values.length ? stat(values).median : undefined;
  };
  const latency = (pick: (r: AuthHookVariantRun) => number | undefined): number | undefined => {
    const values = runs.map(pick).filter((v) => v !== undefined);
    return values.length ? stat(values).median : undefined;
  };
  return {
    id: variant.id,
    label: variant.label,
    hookDelayMs: variant.hookDelayMs,
    cacheTtlSeconds: variant.cacheTtlSeconds,
    runs,
    msgPerSec: stat(runs.map((r) => r.msgPerSec)),
    cpuMsPerMsg: stat(runs.map((r) => r.cpuMsPerMsg)),
    invocationMs: stat(runs.map((r) => r.invocationMs)),
    msgPerSecRatio: ratio((r) => r.msgPerSec),
    cpuRatio: ratio((r) => r.cpuMsPerMsg),
    invocationMsRatio: ratio((r) => r.invocationMs),
    hookMsP50: latency((r) => r.hookMsP50),
    hookMsP95: latency((r) => r.hookMsP95),
  };
}

async function runVariant(
  world: AuthHookWorld,
  options: AuthHookPhaseOptions,
  variant: Variant,
  bundle: string,
  relay: SmtpRelay,
  queues: CreatedQueues,
  round: number,
): Promise<AuthHookVariantRun> {
  const total = options.warmup + options.messages;
  relay.clear();
  await Promise.all([queues.queueUrl, queues.dlqUrl].map((QueueUrl) => world.sqs.send(new PurgeQueueCommand({ QueueUrl }))));
  await enqueue(world, queues.queueUrl, variant, round, options.tenants, total);

  let stderrTail = '';
  const client = startChild(world.client, {
    name: `client auth-hook ${variant.id}`,
    execArgv: ['--enable-source-maps'],
    env: {
      ...world.env,
      QUEUE_URL: queues.queueUrl,
      DEAD_LETTER_QUEUE_URL: queues.dlqUrl,
      BENCH_AUTH_HOOK_RUN_ID: world.runId,
      BENCH_AUTH_HOOK_DELAY_MS: String(variant.hookDelayMs),
      AUTH_HOOK_CACHE_TTL_SECONDS: String(variant.cacheTtlSeconds),
    },
    onOutput: (chunk, stream) => {
      if (stream === 'stderr') stderrTail = (stderrTail + chunk.toString()).slice(-4000);
    },
  });
  const spec: WorkerPhaseSpec = {
    kind: 'worker',
    bundle,
    queueUrl: queues.queueUrl,
    queueArn: queues.queueArn,
    sqsEndpoint: String(world.env['AWS_ENDPOINT_URL_SQS']),
    batchSize: WORKER_SHAPE.batchSize,
    memoryMb: WORKER_SHAPE.memoryMb,
    warmup: options.warmup,
    messages: options.messages,
  };
  const started = Date.now();
  let measurement: PhaseMeasurement;
  try {
    await withTimeout(client.request('start', spec), `${variant.id} start`);
    await withTimeout(client.request('warmup'), `${variant.id} warm-up`);
    measurement = await withTimeout(client.request<PhaseMeasurement>('measure'), `${variant.id} measure`);
  } finally {
    await client.stop();
  }
  const seconds = (Date.now() - started) / 1000;
  if (measurement.delivered < options.messages) world.log(`  ! auth hook ${variant.id}: ${measurement.delivered} of ${options.messages} handled. Client stderr:\n${stderrTail}`);

  // At the relay: each message once, through its own tenant's user.
  const seen = new Map<string, number>();
  const rightUser = new Set<string>();
  let wrongUser = 0;
  for (const message of relay.messages) {
    for (const rcpt of message.rcptTo) {
      seen.set(rcpt, (seen.get(rcpt) ?? 0) + 1);
      const tenant = /@t(\d+)\.authhook\.bench\.example$/.exec(rcpt);
      if (tenant && message.user === routeUser(Number(tenant[1]))) rightUser.add(rcpt);
      else wrongUser += 1;
    }
  }
  const sessions = Array.from({ length: options.tenants }, (_, t) => relay.authAttempts.filter((a) => a.success && a.username === routeUser(t)).length);

  const hook = measurement.authHook;
  const atEnd: AuthHookStats = hook?.atEnd ?? { calls: 0, cacheHits: 0, failures: 0, totalCallMs: 0, recentCallMs: [] };
  const windows = variant.cacheTtlSeconds > 0 ? Math.floor(seconds / variant.cacheTtlSeconds) + 1 : 0;
  const recent = [...atEnd.recentCallMs].sort((a, b) => a - b);
  return {
    round,
    totalMessages: total,
    delivered: rightUser.size,
    wrongUser,
    duplicates: [...seen.values()].reduce((sum, n) => sum + n - 1, 0),
    failed: measurement.failed,
    msgPerSec: (measurement.delivered * 1000) / measurement.wallMs,
    cpuMsPerMsg: measurement.cpuMs / Math.max(1, measurement.delivered),
    invocationMs: (measurement.handlerMs ?? 0) / Math.max(1, measurement.invocations ?? 0),
    hookCalls: atEnd.calls,
    hookCallsInWindow: atEnd.calls - (hook?.atStart.calls ?? 0),
    cacheHits: atEnd.cacheHits,
    cacheHitRatio: atEnd.calls + atEnd.cacheHits > 0 ? atEnd.cacheHits / (atEnd.calls + atEnd.cacheHits) : 0,
    hookFailures: atEnd.failures,
    maxExpectedHookCalls: variant.hooked ? (variant.cacheTtlSeconds > 0 ? options.tenants * windows : total) : 0,
    hookMsP50: percentile(recent, 0.5),
    hookMsP95: percentile(recent, 0.95),
    sessionsPerTenant: { min: Math.min(...sessions), max: Math.max(...sessions), total: sessions.reduce((a, b) => a + b, 0) },
    seconds,
  };
}

/** Nearest-rank percentile of sorted values; undefined when empty. */
export function percentile(sorted: readonly number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`auth hook phase, ${what}: no answer after ${STEP_TIMEOUT_MS} ms`)), STEP_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
