/**
 * The bench's knobs: flags override environment variables, which override the defaults.
 *
 * | flag                  | env                  | default (full) | `--smoke` |
 * |-----------------------|----------------------|----------------|-----------|
 * | `--rounds=N`          | BENCH_ROUNDS         | 3              | 1         |
 * | `--routes=1,10,100`   | BENCH_ROUTES         | 1,10,100       | 1,10      |
 * | `--messages=N`        | BENCH_MESSAGES       | 1000           | 20        |
 * | `--pooled-messages=N` | BENCH_POOLED_MESSAGES| 2000           | 20        |
 * | `--naive-messages=N`  | BENCH_NAIVE_MESSAGES | 300            | 10        |
 * | `--serial-messages=N` | BENCH_SERIAL_MESSAGES| 40             | 4         |
 * | `--warmup=N`          | BENCH_WARMUP         | max(50, 3 × routes) | 10   |
 * | `--cold-runs=N`       | BENCH_COLD_RUNS      | 15             | 2         |
 * | `--greeting=both`     | BENCH_GREETING       | both (`delay`, `no-delay`) | both |
 * | `--out-dir=DIR`       | BENCH_OUT_DIR        | bench/         | bench/    |
 * | `--build-dir=DIR`     | BENCH_BUILD_DIR      | bench/.build   | bench/.build |
 * | `--limits-workers=1,2,4` | BENCH_LIMITS_WORKERS | 1,2,4        | 1,2       |
 * | `--limits-messages=N` | BENCH_LIMITS_MESSAGES| 60             | 15        |
 * | `--aws-rtt=MS`        | BENCH_AWS_RTT_MS     | 0 (loopback)   | 0         |
 * | `--smtp-rtt=MS`       | BENCH_SMTP_RTT_MS    | 0 (loopback)   | 0         |
 * | `--batch-sizes=10,100`| BENCH_BATCH_SIZES    | 10             | 10        |
 * | `--in-flight=10,50`   | BENCH_IN_FLIGHT      | 10             | 10        |
 * | `--auth-hook-tenants=N` | BENCH_AUTH_HOOK_TENANTS | 20 (`none` skips) | 4   |
 * | `--auth-hook-messages=N`| BENCH_AUTH_HOOK_MESSAGES | 300          | 24        |
 * | `--payload-messages=N`| BENCH_PAYLOAD_MESSAGES | 20 (`none` skips) | 4     |
 * | `--payload-sizes=1,5` | BENCH_PAYLOAD_SIZES  | 1,5 (MiB)      | 1,5       |
 * | `--floor=on`          | BENCH_FLOOR          | on (`none` skips) | on     |
 *
 * The network model (bench/delayProxy.ts): `--aws-rtt` puts a round trip on every DynamoDB,
 * Secrets Manager, EventBridge and S3 call of the function (the poller standing in for Lambda's event source mapping
 * stays direct), `--smtp-rtt` on every SMTP exchange with the relay, for every configuration.
 * `--batch-sizes` and `--in-flight` add worker phases per (batch size, records in flight) pair
 * (batches over 10 are gathered from several receives, like a batching window) and a raw pooled
 * phase per in-flight count.
 *
 * `--messages` is per worker phase, `--pooled-messages` per raw pooled phase (fast, so more
 * messages for a stable window), `--naive-messages` per naive-16 phase and
 * `--serial-messages` per naive-serial phase (serial sends take ~130 ms each with the greeting delay).
 * The defaults keep a full run under ~10 minutes on 2 cores; raise them on a bigger machine.
 * `--payload-messages` is per S3 row of the payloads phase (bench/payloads.ts; its two event rows
 * take 5× as many), `--payload-sizes` the attachment sizes of its S3 rows in MiB (at most 29:
 * base64 makes a larger one's body pass the worker's 40 MiB limit).
 * `--floor` (on unless `none`) adds, next to each raw pooled phase, the floor: the same raw pooled
 * nodemailer (same in-flight count and connection limits) that first makes, for each message, the
 * worker's idempotency claim — DynamoIdempotencyStore.claim, one conditional UpdateItem, on a
 * low-level client built like createWorker's (`cacheMiddleware`, endpoint from the function's
 * environment) against the same DynamoDB emulator and idempotency table, fresh keys so every claim
 * succeeds. It is the least any worker that suppresses duplicates with a DynamoDB conditional
 * write spends: the throughput table shows it with its ratio to raw pooled, and results.json the
 * worker's `ratios.cpuToFloor`; the worker's own cost is its CPU minus the floor's.
 * `BENCH_CPU_PROFILE_DIR=dir` writes a V8 CPU profile of each phase's timed window only (no
 * startup, compile or warm-up): `dir/<configuration>.round<N>.cpuprofile`, with the window's
 * message count and `process.cpuUsage()` in `dir/<configuration>.round<N>.json`, which
 * bench/profile.ts turns into ms per message by group. The client runs the profiler (1 ms
 * sampling), so a profiled run's CPU figures are a little higher than an unprofiled one's.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GREETING_MODES, type GreetingMode } from './workload.js';

/** The worker's settings the comparison is pinned to (CDK and worker defaults). */
export const WORKER_SHAPE = {
  /** SQS event source batch size (CDK default, the SQS maximum per receive). */
  batchSize: 10,
  /** Records of a batch in flight at once (BATCH_CONCURRENCY default). */
  batchConcurrency: 10,
  /** Per-route SMTP connections (limits.maxConnections default). */
  maxConnections: 4,
  /** Transactions per connection (limits.maxMessagesPerConnection default). */
  maxMessagesPerConnection: 100,
  /** Lambda memory (CDK default). */
  memoryMb: 512,
  /** CONFIG_CACHE_TTL_SECONDS / SECRET_CACHE_TTL_SECONDS (CDK defaults). */
  configCacheTtlSeconds: 60,
  secretCacheTtlSeconds: 300,
  /** Queue redrive maxReceiveCount (CDK default). */
  maxReceiveCount: 10,
} as const;

/** The relay of the limits phase (bench/limits.ts): limits.maxConnections and limits.messagesPerSecond. */
export const LIMITS_SHAPE = { maxConnections: 2, messagesPerSecond: 5 } as const;

/** In-flight sends of the naive concurrent alternative. */
export const NAIVE_IN_FLIGHT = 16;

export interface BenchOptions {
  readonly smoke: boolean;
  readonly rounds: number;
  readonly routes: readonly number[];
  readonly messages: number;
  readonly pooledMessages: number;
  readonly naiveMessages: number;
  readonly serialMessages: number;
  /** Untimed messages before each timed window; `undefined` = max(50, 3 × routes). */
  readonly warmup: number | undefined;
  readonly coldRuns: number;
  readonly greetings: readonly GreetingMode[];
  readonly outDir: string;
  readonly buildDir: string;
  /** Round trip added to each AWS call of the function / each SMTP exchange, in ms (0 = loopback). */
  readonly awsRttMs: number;
  readonly smtpRttMs: number;
  /** Worker batch sizes and records in flight (BATCH_CONCURRENCY) to run; pooled runs each in-flight count. */
  readonly batchSizes: readonly number[];
  readonly inFlights: readonly number[];
  /** Worker processes of each limits run; empty skips the phase. */
  readonly limitsWorkers: readonly number[];
  readonly limitsMessages: number;
  /** Auth hook phase (bench/authHook.ts): tenants (`auth.key` values, at most the largest `routes`; 0 skips) and timed messages per variant. */
  readonly authHookTenants: number;
  readonly authHookMessages: number;
  /** Messages per S3 row of the payloads phase (bench/payloads.ts); 0 skips the phase. */
  readonly payloadMessages: number;
  /** Attachment sizes of its S3 rows, in MiB. */
  readonly payloadSizesMib: readonly number[];
  /** Run the floor (raw pooled + the worker's claim) next to each raw pooled phase. */
  readonly floor: boolean;
}

export class BenchOptionsError extends Error {
  public constructor(message: string) {
    super(message);
    this.name = 'BenchOptionsError';
  }
}

const BENCH_DIR = fileURLToPath(new URL('.', import.meta.url));

/** Warm-up of a phase with `routes` routes: every route has its connections open before timing. */
export const warmupFor = (options: BenchOptions, routes: number): number => options.warmup ?? Math.max(50, 3 * routes);

/**
 * @example
 * const options = parseOptions(process.argv.slice(2), process.env);
 */
export function parseOptions(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): BenchOptions {
  const flags = new Map<string, string>();
  for (const arg of argv) {
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!match) throw new BenchOptionsError(`unknown argument "${arg}" (flags look like --messages=500)`);
    flags.set(match[1]!, match[2] ?? 'true');
  }
  const known = ['smoke', 'rounds', 'routes', 'messages', 'pooled-messages', 'naive-messages', 'serial-messages', 'warmup', 'cold-runs', 'greeting', 'out-dir', 'build-dir', 'aws-rtt', 'smtp-rtt', 'batch-sizes', 'in-flight', 'limits-workers', 'limits-messages', 'payload-messages', 'payload-sizes', 'auth-hook-tenants', 'auth-hook-messages', 'floor'];
  for (const name of flags.keys()) if (!known.includes(name)) throw new BenchOptionsError(`unknown flag --${name} (known: ${known.map((k) => `--${k}`).join(', ')})`);

  const smoke = flags.get('smoke') === 'true' || env['BENCH_SMOKE'] === '1';
  const raw = (flag: string, variable: string): string | undefined => flags.get(flag) ?? env[variable];
  const integer = (flag: string, variable: string, fallback: number, min: number): number => {
    const value = raw(flag, variable);
    if (value === undefined || value === '') return fallback;
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < min) throw new BenchOptionsError(`--${flag} / ${variable} must be an integer ≥ ${min} (got "${value}")`);
    return parsed;
  };
  const routesRaw = raw('routes', 'BENCH_ROUTES');
  const routes = routesRaw ? routesRaw.split(',').map((r) => Number(r.trim())) : smoke ? [1, 10] : [1, 10, 100];
  if (routes.some((r) => !Number.isInteger(r) || r < 1 || r > 1000)) throw new BenchOptionsError(`--routes must be integers 1-1000 (got "${routesRaw}")`);
  const greetingRaw = raw('greeting', 'BENCH_GREETING') ?? 'both';
  if (greetingRaw !== 'both' && !GREETING_MODES.includes(greetingRaw as GreetingMode)) {
    throw new BenchOptionsError(`--greeting must be both, delay or no-delay (got "${greetingRaw}")`);
  }
  const limitsRaw = raw('limits-workers', 'BENCH_LIMITS_WORKERS');
  const limitsWorkers = limitsRaw === 'none' ? [] : limitsRaw ? limitsRaw.split(',').map((r) => Number(r.trim())) : smoke ? [1, 2] : [1, 2, 4];
  if (limitsWorkers.some((n) => !Number.isInteger(n) || n < 1 || n > 16)) throw new BenchOptionsError(`--limits-workers must be integers 1-16 or none (got "${limitsRaw}")`);
  const warmupRaw = raw('warmup', 'BENCH_WARMUP');
  const list = (flag: string, variable: string, fallback: readonly number[], max: number): number[] => {
    const value = raw(flag, variable);
    const parsed = value ? value.split(',').map((v) => Number(v.trim())) : [...fallback];
    if (parsed.some((v) => !Number.isInteger(v) || v < 1 || v > max)) throw new BenchOptionsError(`--${flag} / ${variable} must be integers 1-${max} (got "${value}")`);
    return [...new Set(parsed)].sort((a, b) => a - b);
  };
  // Auth hook phase: its tenants reuse the routes' relay users and secrets (bench/authHook.ts).
  const authHookTenants = raw('auth-hook-tenants', 'BENCH_AUTH_HOOK_TENANTS') === 'none' ? 0 : integer('auth-hook-tenants', 'BENCH_AUTH_HOOK_TENANTS', smoke ? 4 : 20, 1);
  if (authHookTenants > Math.max(...routes)) {
    throw new BenchOptionsError(`--auth-hook-tenants must be at most the largest --routes (${Math.max(...routes)}): the tenants reuse the routes' users and secrets (got ${authHookTenants})`);
  }
  const payloadRaw = raw('payload-messages', 'BENCH_PAYLOAD_MESSAGES');
  const sizesRaw = raw('payload-sizes', 'BENCH_PAYLOAD_SIZES');
  const payloadSizesMib = sizesRaw ? sizesRaw.split(',').map((v) => Number(v.trim())) : [1, 5];
  // Base64 makes 4 bytes of 3: above 29 MiB the body would pass the worker's 40 MiB payload limit.
  if (payloadSizesMib.some((v) => !Number.isFinite(v) || v <= 0 || v > 29)) throw new BenchOptionsError(`--payload-sizes / BENCH_PAYLOAD_SIZES must be MiB sizes above 0, at most 29 (got "${sizesRaw}")`);
  const floorRaw = raw('floor', 'BENCH_FLOOR') ?? 'on';
  if (floorRaw !== 'on' && floorRaw !== 'none') throw new BenchOptionsError(`--floor / BENCH_FLOOR must be on or none (got "${floorRaw}")`);
  return {
    smoke,
    rounds: integer('rounds', 'BENCH_ROUNDS', smoke ? 1 : 3, 1),
    routes: [...new Set(routes)].sort((a, b) => a - b),
    messages: integer('messages', 'BENCH_MESSAGES', smoke ? 20 : 1000, 1),
    pooledMessages: integer('pooled-messages', 'BENCH_POOLED_MESSAGES', smoke ? 20 : 2000, 1),
    naiveMessages: integer('naive-messages', 'BENCH_NAIVE_MESSAGES', smoke ? 10 : 300, 1),
    serialMessages: integer('serial-messages', 'BENCH_SERIAL_MESSAGES', smoke ? 4 : 40, 1),
    warmup: warmupRaw !== undefined && warmupRaw !== '' ? integer('warmup', 'BENCH_WARMUP', 0, 0) : smoke ? 10 : undefined,
    coldRuns: integer('cold-runs', 'BENCH_COLD_RUNS', smoke ? 2 : 15, 1),
    greetings: greetingRaw === 'both' ? GREETING_MODES : [greetingRaw as GreetingMode],
    outDir: raw('out-dir', 'BENCH_OUT_DIR') ?? BENCH_DIR,
    buildDir: raw('build-dir', 'BENCH_BUILD_DIR') ?? join(BENCH_DIR, '.build'),
    awsRttMs: integer('aws-rtt', 'BENCH_AWS_RTT_MS', 0, 0),
    smtpRttMs: integer('smtp-rtt', 'BENCH_SMTP_RTT_MS', 0, 0),
    batchSizes: list('batch-sizes', 'BENCH_BATCH_SIZES', [WORKER_SHAPE.batchSize], 10_000),
    inFlights: list('in-flight', 'BENCH_IN_FLIGHT', [WORKER_SHAPE.batchConcurrency], 1_000),
    limitsWorkers: [...new Set(limitsWorkers)].sort((a, b) => a - b),
    limitsMessages: integer('limits-messages', 'BENCH_LIMITS_MESSAGES', smoke ? 15 : 60, 1),
    authHookTenants,
    authHookMessages: integer('auth-hook-messages', 'BENCH_AUTH_HOOK_MESSAGES', smoke ? 24 : 300, 1),
    payloadMessages: payloadRaw === 'none' ? 0 : integer('payload-messages', 'BENCH_PAYLOAD_MESSAGES', smoke ? 4 : 20, 1),
    payloadSizesMib: [...new Set(payloadSizesMib)].sort((a, b) => a - b),
    floor: floorRaw === 'on',
  };
}
