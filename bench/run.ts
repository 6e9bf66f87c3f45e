/**
 * `npm run bench`: the bundled handler against the alternatives, in one run (see
 * docs/performance.md for what each figure means).
 *
 * Processes: this orchestrator (builds, enqueues, counts; its own CPU is not measured), one SMTP
 * relay child per greeting mode (bench/relayChild.ts), one AWS emulator child
 * (bench/awsChild.ts), and a fresh client child per timed phase (bench/client.ts, bundled).
 * Phases of every configuration run round-robin, `rounds` times, in a rotating order.
 *
 *   npm run bench                      # full run (~10 min on 2 cores)
 *   npm run bench -- --smoke           # tiny counts, seconds
 *   npm run bench -- --messages=500 --rounds=3 --routes=1,10 --greeting=no-delay
 */
import { fstatSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem, type as osType, release } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PurgeQueueCommand, SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { localAwsClientConfig } from '../local/awsClientConfig.js';
import { createConfigTable, createIdempotencyTable, createQueues, type CreatedQueues } from '../local/emulators.js';
import { estimateCost, summarize, type BenchConfiguration, type PhaseRun } from './analyze.js';
import type { AwsCounters, AwsEndpoints } from './awsChild.js';
import { buildBench, REPO_ROOT, type BenchBuild } from './build.js';
import { renderChart } from './chart.js';
import type { MeasureRequest, PhaseMeasurement, PhaseSpec } from './client.js';
import { measureColdInit } from './coldInit.js';
import { startChild, type BenchChild } from './ipc.js';
import { runLimitsPhase, type LimitsRun } from './limits.js';
import { runAuthHookPhase } from './authHook.js';
import { payloadCases, runPayloadsPhase, type PayloadRun } from './payloads.js';
import { BenchOptionsError, LIMITS_SHAPE, NAIVE_IN_FLIGHT, parseOptions, warmupFor, WORKER_SHAPE, type BenchOptions } from './options.js';
import { PRICES, COST_ASSUMPTIONS } from './prices.js';
import type { RelayCounters, RelayStart } from './relayChild.js';
import { renderReport, type BenchReport } from './report.js';
import { queueBody, recipientOf, routeDomain, routePassword, routeSecretId, routeUser, SECRET_PREFIX, type GreetingMode } from './workload.js';

const CA_FILE = join(REPO_ROOT, 'local/certs/ca.pem');
const CONFIG_TABLE = 'mailrelay-bench-config';
const IDEMPOTENCY_TABLE = 'mailrelay-bench-idempotency';
/** The bus the bench's worker puts delivery events on (the PutEvents stand-in in the AWS child). */
const BENCH_EVENT_BUS = 'mailrelay-bench-events';
/** The payload bucket on the S3 stand-in (bench/payloads.ts). */
const BENCH_PAYLOAD_BUCKET = 'mailrelay-bench-payloads';
const QUEUE_VISIBILITY_SECONDS = 60;
/** A phase step that takes longer than this is a hung bench, not a slow one. */
const STEP_TIMEOUT_MS = 10 * 60_000;
const ENQUEUE_PARALLEL = 4;
/** The AWS SDK warns once per process that its Node 20 support ends in 2027: true, and noise here (Lambda runs node24). */
const QUIET_SDK = { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' } as const;

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function tsxChild(file: string, name: string, args: string[] = []): BenchChild {
  return startChild(join(REPO_ROOT, 'bench', file), {
    name,
    args,
    execArgv: ['--import', import.meta.resolve('tsx')],
    onOutput: (chunk, stream) => {
      if (stream === 'stderr') process.stderr.write(`[${name}] ${chunk.toString()}`);
    },
  });
}

/** The configurations of the run, in their round-robin order. */
export function configurations(options: BenchOptions): BenchConfiguration[] {
  const list: BenchConfiguration[] = [];
  for (const greeting of options.greetings) {
    for (const routes of options.routes) {
      const warmup = warmupFor(options, routes);
      const shaped = options.batchSizes.length > 1 || options.inFlights.length > 1 || options.batchSizes[0] !== WORKER_SHAPE.batchSize || options.inFlights[0] !== WORKER_SHAPE.batchConcurrency;
      for (const batchSize of options.batchSizes) {
        for (const inFlight of options.inFlights) {
          // More records in flight than a batch holds is the same as the batch size.
          if (inFlight > batchSize && options.inFlights.some((f) => f <= batchSize && f !== inFlight)) continue;
          list.push({
            id: shaped ? `worker-b${batchSize}-f${inFlight}-r${routes}-${greeting}` : `worker-r${routes}-${greeting}`,
            kind: 'worker',
            greeting,
            routes,
            inFlight,
            batchSize,
            messages: Math.max(options.messages, batchSize * 3),
            warmup: Math.max(warmup, batchSize),
            label: shaped ? `mailrelay worker (bundle), batch ${batchSize}, ${inFlight} in flight` : 'mailrelay worker (bundle)',
          });
        }
      }
      for (const inFlight of options.inFlights) {
        list.push({
          id: shaped ? `pooled-f${inFlight}-r${routes}-${greeting}` : `pooled-r${routes}-${greeting}`,
          kind: 'pooled',
          greeting,
          routes,
          inFlight,
          messages: options.pooledMessages,
          warmup,
          label: `raw pooled nodemailer (${WORKER_SHAPE.maxConnections} conns/route, ${inFlight} in flight)`,
        });
        // The floor: raw pooled + the worker's claim per message (bench/client.ts FloorPhaseSpec).
        if (options.floor) {
          list.push({
            id: shaped ? `floor-f${inFlight}-r${routes}-${greeting}` : `floor-r${routes}-${greeting}`,
            kind: 'floor',
            greeting,
            routes,
            inFlight,
            messages: options.pooledMessages,
            warmup,
            label: `floor: raw pooled + the worker's claim (${WORKER_SHAPE.maxConnections} conns/route, ${inFlight} in flight)`,
          });
        }
      }
    }
    const naiveWarmup = Math.min(10, warmupFor(options, 1));
    list.push({ id: `naive-serial-r1-${greeting}`, kind: 'naive-serial', greeting, routes: 1, inFlight: 1, messages: options.serialMessages, warmup: Math.min(naiveWarmup, 3), label: 'naive: transport per message, serial' });
    list.push({ id: `naive-16-r1-${greeting}`, kind: 'naive-16', greeting, routes: 1, inFlight: NAIVE_IN_FLIGHT, messages: options.naiveMessages, warmup: naiveWarmup, label: `naive: transport per message, ${NAIVE_IN_FLIGHT} in flight` });
  }
  return list;
}

interface World {
  readonly runId: string;
  readonly endpoints: AwsEndpoints;
  readonly relays: ReadonlyMap<GreetingMode, { child: BenchChild; start: RelayStart }>;
  readonly aws: BenchChild;
  readonly sqs: SQSClient;
  readonly queues: CreatedQueues;
  readonly dynamo: DynamoDBClient;
  readonly passwords: readonly string[];
}

async function startWorld(options: BenchOptions): Promise<World> {
  const runId = Date.now().toString(36);
  const maxRoutes = Math.max(...options.routes);
  const passwords = Array.from({ length: maxRoutes }, (_, r) => routePassword(runId, r));
  const users = Object.fromEntries(passwords.map((pass, r) => [routeUser(r), pass]));
  const secrets = Object.fromEntries(passwords.map((password, r) => [routeSecretId(r), JSON.stringify({ username: routeUser(r), password })]));

  const aws = tsxChild('awsChild.ts', 'aws', [String(options.awsRttMs)]);
  const relays = new Map<GreetingMode, { child: BenchChild; start: RelayStart }>();
  const [endpoints] = await Promise.all([
    aws.request<AwsEndpoints>('start', { secrets, eventBus: BENCH_EVENT_BUS, payloadBucket: BENCH_PAYLOAD_BUCKET }),
    ...options.greetings.map(async (greeting) => {
      const child = tsxChild('relayChild.ts', `relay-${greeting}`, [greeting, String(options.smtpRttMs)]);
      relays.set(greeting, { child, start: await child.request<RelayStart>('start', { users }) });
    }),
  ]);

  const dynamo = new DynamoDBClient(localAwsClientConfig(endpoints.dynamoEndpoint));
  const documents = DynamoDBDocumentClient.from(dynamo);
  const sqs = new SQSClient(localAwsClientConfig(endpoints.sqsEndpoint));
  await createConfigTable(dynamo, CONFIG_TABLE);
  await createIdempotencyTable(dynamo, IDEMPOTENCY_TABLE);
  const queues = await createQueues(sqs, { name: 'mailrelay-bench', maxReceiveCount: WORKER_SHAPE.maxReceiveCount, visibilityTimeout: QUEUE_VISIBILITY_SECONDS });

  const items: Record<string, unknown>[] = [
    {
      scope: 'global',
      relay: { host: '127.0.0.1', tls: 'starttls', timeoutSeconds: 30 },
      auth: { type: 'PLAIN' },
      // Each route is its own mailbox on the shared relay: limits count per user (docs/limits.md).
      limits: { maxConnections: WORKER_SHAPE.maxConnections, maxMessagesPerConnection: WORKER_SHAPE.maxMessagesPerConnection, perUser: true },
    },
  ];
  for (const [greeting, relay] of relays) {
    for (let r = 0; r < maxRoutes; r++) {
      items.push({ scope: `domain#${routeDomain(r, greeting)}`, relay: { port: relay.start.port }, auth: { user: routeUser(r), pass: { secret: routeSecretId(r) } } });
    }
  }
  for (let i = 0; i < items.length; i += 16) {
    await Promise.all(items.slice(i, i + 16).map((Item) => documents.send(new PutCommand({ TableName: CONFIG_TABLE, Item }))));
  }
  return { runId, endpoints, relays, aws, sqs, queues, dynamo, passwords };
}

async function stopWorld(world: World | undefined): Promise<void> {
  if (!world) return;
  world.sqs.destroy();
  world.dynamo.destroy();
  await Promise.all([world.aws.stop(), ...[...world.relays.values()].map((r) => r.child.stop())]);
}

function workerEnv(world: World, config?: BenchConfiguration): NodeJS.ProcessEnv {
  return {
    PATH: process.env['PATH'],
    HOME: process.env['HOME'],
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_DYNAMODB: world.endpoints.functionDynamoEndpoint,
    AWS_ENDPOINT_URL_SQS: world.endpoints.sqsEndpoint,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: world.endpoints.functionSecretsUrl,
    AWS_ENDPOINT_URL_SSM: world.endpoints.functionSecretsUrl,
    // Delivery events (docs/events.md): counted like the other calls, as EventBridge.PutEvents.
    AWS_ENDPOINT_URL_EVENTBRIDGE: world.endpoints.functionEventsUrl,
    EVENT_BUS_NAME: BENCH_EVENT_BUS,
    CONFIG_TABLE_NAME: CONFIG_TABLE,
    IDEMPOTENCY_TABLE_NAME: IDEMPOTENCY_TABLE,
    QUEUE_URL: world.queues.queueUrl,
    DEAD_LETTER_QUEUE_URL: world.queues.dlqUrl,
    SECRET_PREFIX,
    CONFIG_CACHE_TTL_SECONDS: String(WORKER_SHAPE.configCacheTtlSeconds),
    SECRET_CACHE_TTL_SECONDS: String(WORKER_SHAPE.secretCacheTtlSeconds),
    MAX_RECEIVE_COUNT: String(WORKER_SHAPE.maxReceiveCount),
    BATCH_CONCURRENCY: String(config?.inFlight ?? WORKER_SHAPE.batchConcurrency),
    RELAY_CA_FILE: CA_FILE,
    POWERTOOLS_SERVICE_NAME: 'mailrelay',
    POWERTOOLS_METRICS_NAMESPACE: 'Mailrelay',
    POWERTOOLS_LOG_LEVEL: 'INFO',
    ...QUIET_SDK,
  };
}

async function enqueue(world: World, config: BenchConfiguration, round: number): Promise<void> {
  const total = config.warmup + config.messages;
  const batches: number[] = [];
  for (let i = 0; i < total; i += 10) batches.push(i);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < batches.length) {
      const start = batches[next++]!;
      const entries = [];
      for (let i = start; i < Math.min(start + 10, total); i++) {
        const { address } = recipientOf(i, config.routes, config.greeting);
        entries.push({ Id: String(i - start), MessageBody: queueBody(`bench-${world.runId}-${config.id}-${round}-${i}`, address) });
      }
      const response = await world.sqs.send(new SendMessageBatchCommand({ QueueUrl: world.queues.queueUrl, Entries: entries }));
      if (response.Failed?.length) throw new Error(`enqueue: ${response.Failed.length} entries failed: ${response.Failed[0]?.Message ?? ''}`);
    }
  };
  await Promise.all(Array.from({ length: ENQUEUE_PARALLEL }, lane));
}

function phaseSpec(config: BenchConfiguration, world: World, build: BenchBuild, round: number): PhaseSpec {
  if (config.kind === 'worker') {
    return {
      kind: 'worker',
      bundle: build.handler.path,
      queueUrl: world.queues.queueUrl,
      queueArn: world.queues.queueArn,
      sqsEndpoint: world.endpoints.sqsEndpoint,
      batchSize: config.batchSize ?? WORKER_SHAPE.batchSize,
      memoryMb: WORKER_SHAPE.memoryMb,
      warmup: config.warmup,
      messages: config.messages,
    };
  }
  const relay = world.relays.get(config.greeting);
  if (!relay) throw new Error(`no relay for ${config.greeting}`);
  const nodemailer = {
    relayPort: relay.start.port,
    caFile: CA_FILE,
    greeting: config.greeting,
    routes: world.passwords.slice(0, config.routes).map((pass, r) => ({ user: routeUser(r), pass })),
    inFlight: config.inFlight,
    maxConnections: WORKER_SHAPE.maxConnections,
    maxMessagesPerConnection: WORKER_SHAPE.maxMessagesPerConnection,
    warmup: config.warmup,
    messages: config.messages,
  };
  if (config.kind === 'floor') return { ...nodemailer, kind: 'floor', idempotencyTable: IDEMPOTENCY_TABLE, keyPrefix: `bench#floor-${world.runId}-${config.id}-${round}-` };
  return { ...nodemailer, kind: config.kind === 'pooled' ? 'pooled' : 'naive' };
}

async function runPhase(config: BenchConfiguration, round: number, world: World, build: BenchBuild): Promise<PhaseRun> {
  const relay = world.relays.get(config.greeting)!.child;
  if (config.kind === 'worker') {
    await world.sqs.send(new PurgeQueueCommand({ QueueUrl: world.queues.queueUrl }));
    await enqueue(world, config, round);
  }
  let stderrTail = '';
  // The floor's claim client reads the function's environment (endpoint, region, credentials), as the worker's does.
  const awsKind = config.kind === 'worker' || config.kind === 'floor';
  const profileDir = process.env['BENCH_CPU_PROFILE_DIR'];
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  const client = startChild(build.client, {
    name: `client ${config.id}`,
    execArgv: ['--enable-source-maps'],
    env: awsKind ? workerEnv(world, config) : { PATH: process.env['PATH'], HOME: process.env['HOME'] },
    onOutput: (chunk, stream) => {
      if (stream === 'stderr') stderrTail = (stderrTail + chunk.toString()).slice(-4000);
    },
  });
  try {
    await withTimeout(client.request('start', phaseSpec(config, world, build, round)), STEP_TIMEOUT_MS, `${config.id} start`);
    await withTimeout(client.request('warmup'), STEP_TIMEOUT_MS, `${config.id} warm-up`);
    // Counters from here on belong to the timed window.
    await Promise.all([relay.request<RelayCounters>('counters'), world.aws.request<AwsCounters>('counters')]);
    const measurement = await withTimeout(client.request<PhaseMeasurement>('measure', profileDir ? ({ cpuProfile: join(profileDir, `${config.id}.round${round}`) } satisfies MeasureRequest) : undefined), STEP_TIMEOUT_MS, `${config.id} measure`);
    const [relayCounters, aws] = await Promise.all([relay.request<RelayCounters>('counters'), world.aws.request<AwsCounters>('counters')]);
    if (measurement.delivered < config.messages) {
      log(`  ! ${config.id}: ${measurement.delivered} of ${config.messages} delivered, ${measurement.failed} failed. Client stderr:\n${stderrTail}`);
    }
    return { round, measurement, relay: relayCounters, aws: awsKind ? aws.calls : {}, dynamoWriteItems: awsKind ? aws.dynamoWriteItems : 0, awsServiceMs: awsKind ? aws.serviceMs : {} };
  } finally {
    await client.stop();
  }
}

/** Microseconds per fstat(2): syscalls dominate socket-heavy CPU figures, and virtual machines differ a lot. */
function syscallMicros(): number {
  const rounds = 20_000;
  const started = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) fstatSync(2);
  return Math.round(Number(process.hrtime.bigint() - started) / rounds / 10) / 100;
}

function machine(): Record<string, unknown> {
  const list = cpus();
  return {
    syscallMicros: syscallMicros(),
    cpus: list.length,
    cpuModel: list[0]?.model ?? 'unknown',
    memoryGb: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    os: `${osType()} ${release()}`,
    node: process.version,
  };
}

export async function runBench(options: BenchOptions): Promise<BenchReport & { resultsPath: string; chartPath: string }> {
  Object.assign(process.env, QUIET_SDK);
  const startedAt = new Date();
  const host = machine();
  log(`mailrelay bench (${options.smoke ? 'smoke' : 'full'}): ${String(host['cpus'])} × ${String(host['cpuModel'])}, Node ${process.version}, ${String(host['syscallMicros'])} µs per syscall`);
  const loadAtStart = loadavg()[0]!;
  if (loadAtStart > cpus().length * 0.5) log(`! load average ${loadAtStart.toFixed(2)} on ${cpus().length} cores: other work is running, figures will be noisy`);
  if (options.awsRttMs || options.smtpRttMs) log(`network model: ${options.awsRttMs} ms per AWS call of the function, ${options.smtpRttMs} ms per SMTP round trip`);
  log(`building bundles into ${options.buildDir}`);
  const build = await buildBench(options.buildDir);
  log(`cold init: ${options.coldRuns} fresh processes per variant`);
  const coldInit = await measureColdInit(build, options.coldRuns);

  let world: World | undefined;
  try {
    world = await startWorld(options);
    for (const [greeting, relay] of world.relays) log(`relay ${greeting}: port ${relay.start.port}, greeting after ${relay.start.greetingMs} ms`);
    const list = configurations(options);
    const runs = new Map<string, PhaseRun[]>(list.map((c) => [c.id, []]));
    for (let round = 1; round <= options.rounds; round++) {
      for (let i = 0; i < list.length; i++) {
        const config = list[(i + round - 1) % list.length]!;
        const started = Date.now();
        const run = await runPhase(config, round, world, build);
        runs.get(config.id)!.push(run);
        const m = run.measurement;
        log(
          `[round ${round}/${options.rounds}] ${config.id.padEnd(26)} ${String(m.delivered).padStart(5)} msgs ${((m.delivered * 1000) / m.wallMs).toFixed(1).padStart(7)} msg/s ` +
            `${(m.cpuMs / Math.max(1, m.delivered)).toFixed(2).padStart(6)} CPU ms/msg  (${((Date.now() - started) / 1000).toFixed(1)} s)`,
        );
      }
    }

    // Fleet-wide limits: N worker processes against one limited relay (docs/limits.md).
    const limits: LimitsRun[] = await runLimitsPhase(
      {
        runId: world.runId,
        dynamo: world.dynamo,
        sqs: world.sqs,
        configTable: CONFIG_TABLE,
        env: workerEnv(world),
        user: routeUser(0),
        password: world.passwords[0]!,
        secretId: routeSecretId(0),
        log,
      },
      { workerCounts: options.limitsWorkers, messages: options.limitsMessages, ...LIMITS_SHAPE },
    );

    // Auth hook: the bundle with a module hook against K tenants on one relay (bench/authHook.ts).
    const authHook = await runAuthHookPhase(
      { runId: world.runId, dynamo: world.dynamo, sqs: world.sqs, configTable: CONFIG_TABLE, env: workerEnv(world), client: build.client, handlerBundle: build.handler.path, buildDir: options.buildDir, log },
      { tenants: options.authHookTenants, messages: options.authHookMessages, warmup: warmupFor(options, options.authHookTenants), rounds: options.rounds },
    );

    // What delivery events and S3 pointer bodies add per message (docs/payloads.md, docs/events.md).
    const payloadRelay = world.relays.get('no-delay') ?? [...world.relays.values()][0]!;
    const payloads: PayloadRun[] =
      options.payloadMessages > 0
        ? await runPayloadsPhase(
            {
              runId: world.runId,
              sqs: world.sqs,
              s3Url: world.endpoints.s3Url,
              functionS3Url: world.endpoints.functionS3Url,
              payloadBucket: BENCH_PAYLOAD_BUCKET,
              aws: world.aws,
              relay: payloadRelay.child,
              recipientDomain: routeDomain(0, payloadRelay.start.greeting),
              env: workerEnv(world),
              build,
              sqsEndpoint: world.endpoints.sqsEndpoint,
              batchSize: WORKER_SHAPE.batchSize,
              memoryMb: WORKER_SHAPE.memoryMb,
              log,
            },
            payloadCases(options.payloadMessages, options.payloadSizesMib),
          )
        : [];

    const results = summarize(list, runs, { awsModelMs: options.awsRttMs });
    const costs = results.map(estimateCost).filter((c) => c !== undefined);
    const report: BenchReport = { configurations: results, coldInit, bundles: { handler: build.handler, bare: build.bare }, costs, relays: [...world.relays.values()].map((r) => r.start), payloads, authHook };
    const finishedAt = new Date();
    const subtitle = `${String(host['cpus'])} × ${String(host['cpuModel'])}, Node ${process.version}, ${finishedAt.toISOString().slice(0, 10)}; ${options.smoke ? 'SMOKE RUN (tiny counts, not figures to quote)' : `${options.rounds} interleaved runs per configuration`}`;

    mkdirSync(options.outDir, { recursive: true });
    const resultsPath = join(options.outDir, 'results.json');
    const chartPath = join(options.outDir, 'chart.svg');
    writeFileSync(
      resultsPath,
      `${JSON.stringify(
        {
          schema: 1,
          mode: options.smoke ? 'smoke' : 'full',
          startedAt: startedAt.toISOString(),
          finishedAt: finishedAt.toISOString(),
          durationSeconds: Math.round((finishedAt.getTime() - startedAt.getTime()) / 1000),
          machine: { ...host, loadAverage1m: { atStart: loadAtStart, atEnd: loadavg()[0] } },
          options: { ...options, outDir: undefined, buildDir: undefined },
          workerShape: WORKER_SHAPE,
          relays: report.relays,
          bundles: {
            handler: { startBytes: build.handler.startBytes, bytes: build.handler.bytes, gzipBytes: build.handler.gzipBytes, mapBytes: build.handler.mapBytes },
            bare: { startBytes: build.bare.startBytes, bytes: build.bare.bytes, gzipBytes: build.bare.gzipBytes, mapBytes: build.bare.mapBytes },
          },
          coldInit,
          configurations: results,
          cost: { prices: PRICES, assumptions: COST_ASSUMPTIONS, estimates: costs },
          limits,
          authHook,
          payloads,
        },
        null,
        2,
      )}\n`,
    );
    writeFileSync(chartPath, renderChart(results, subtitle));
    const markdownPath = join(options.outDir, 'results.md');
    writeFileSync(markdownPath, `<!-- generated by npm run bench: ${subtitle} -->\n\n${renderReport(report, 'markdown')}\n`);
    process.stdout.write(`\n${renderReport(report, 'text')}\n\n${limitsTable(limits)}\n\nwrote ${resultsPath}, ${markdownPath} and ${chartPath}\n`);
    return { ...report, resultsPath, chartPath };
  } finally {
    await stopWorld(world);
  }
}

/** The limits phase as a text table. */
function limitsTable(runs: readonly LimitsRun[]): string {
  if (runs.length === 0) return 'Fleet-wide limits: skipped (--limits-workers=none)';
  const rows = runs.map(
    (r) =>
      `  ${String(r.workers).padStart(7)}  ${`${r.maxConnections} / ${r.messagesPerSecond}`.padStart(9)}  ${`${r.delivered}/${r.messages}`.padStart(9)}  ${String(r.duplicates).padStart(4)}  ` +
      `${String(r.peakSessions).padStart(13)}  ${r.observedRate.toFixed(1).padStart(8)}  ${String(r.peakInOneSecond).padStart(9)}  ${r.limiterCallsPerMessage.toFixed(2).padStart(12)}  ${r.limitDeferralsPerMessage.toFixed(2).padStart(10)}`,
  );
  return ['Fleet-wide limits (N worker processes, one relay limited to L connections and R msg/s)', '  workers  L / R msg/s  delivered  dups  peak sessions  msg/s obs  max in 1 s  limiter calls/msg  deferrals/msg', ...rows].join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  let options: BenchOptions;
  try {
    options = parseOptions(process.argv.slice(2), process.env);
  } catch (error) {
    if (error instanceof BenchOptionsError) {
      log(error.message);
      process.exit(2);
    }
    throw error;
  }
  runBench(options).then(
    () => process.exit(0),
    (error: unknown) => {
      log(error instanceof Error ? (error.stack ?? error.message) : String(error));
      process.exit(1);
    },
  );
}
