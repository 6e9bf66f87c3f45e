/**
 * Child process: the client under test, one phase per process. Bundled by esbuild into
 * `.build/client.mjs` and run with plain `node` (no tsx), so its CPU and RSS are the client's own.
 *
 * - `worker`: imports the bundled handler (`.build/relay/index.mjs`, as deployed) and drains the queue
 *   with the same poller `npm start` uses (receive 10 → real SQSEvent → handler → delete), one
 *   batch at a time like one Lambda sandbox.
 * - `naive`: a new nodemailer transport per message (connect, STARTTLS, AUTH, send, close).
 * - `pooled`: one `pool: true` nodemailer transport per route with the worker's connection limits.
 * - `floor`: `pooled`, each send preceded by the worker's idempotency claim (DynamoIdempotencyStore.claim
 *   on a low-level client built like createWorker's claim client, from the worker's environment).
 *
 * Requests: `start` (load), `warmup` (untimed), `measure` (the timed window; given `cpuProfile`,
 * a V8 CPU profile of that window only, see {@link measure}), `exit`.
 */
import { subscribe } from 'node:diagnostics_channel';
import { readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import type { ClientRequest, IncomingMessage } from 'node:http';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import nodemailer, { type Transporter } from 'nodemailer';
import { localAwsClientConfig } from '../local/awsClientConfig.js';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, type Message } from '@aws-sdk/client-sqs';
import { pollOnce, type BatchHandler } from '../lambda/adapters/sqsPoller.js';
import { DynamoIdempotencyStore } from '../lambda/adapters/dynamoIdempotencyStore.js';
import type { AuthHookStats } from '../lambda/core/authHook/runner.js';
import { STAGE_CHANNEL, type StageTiming } from '../lambda/core/stageTimings.js';
import { serve } from './ipc.js';
import { mailOptions, recipientOf, type GreetingMode } from './workload.js';

export interface WorkerPhaseSpec {
  readonly kind: 'worker';
  /** Absolute path of the bundled handler. */
  readonly bundle: string;
  readonly queueUrl: string;
  readonly queueArn: string;
  readonly sqsEndpoint: string;
  readonly batchSize: number;
  readonly memoryMb: number;
  readonly warmup: number;
  readonly messages: number;
}

export interface NodemailerPhaseSpec {
  readonly kind: 'naive' | 'pooled';
  readonly relayPort: number;
  readonly caFile: string;
  readonly greeting: GreetingMode;
  /** Credentials of each route, index = route. */
  readonly routes: readonly { readonly user: string; readonly pass: string }[];
  readonly inFlight: number;
  readonly maxConnections: number;
  readonly maxMessagesPerConnection: number;
  readonly warmup: number;
  readonly messages: number;
}

/**
 * `pooled` plus the worker's claim before each send: the least a worker that suppresses duplicates
 * with a DynamoDB conditional write spends. The DynamoDB endpoint, region and credentials come from
 * the process environment, as the function's do (the orchestrator gives it the worker's).
 */
export interface FloorPhaseSpec extends Omit<NodemailerPhaseSpec, 'kind'> {
  readonly kind: 'floor';
  readonly idempotencyTable: string;
  /** Prefix of the claimed keys, unique per phase and round: every claim finds a new key and succeeds. */
  readonly keyPrefix: string;
}

export type PhaseSpec = WorkerPhaseSpec | NodemailerPhaseSpec | FloorPhaseSpec;

/** `measure`'s options. */
export interface MeasureRequest {
  /** Write a V8 CPU profile of the timed window to `<cpuProfile>.cpuprofile` and its counts to `<cpuProfile>.json` (bench/profile.ts reads both). */
  readonly cpuProfile?: string;
}

/** The sidecar next to a window's profile: what bench/profile.ts divides by. */
export interface ProfileSidecar {
  readonly kind: PhaseSpec['kind'];
  readonly delivered: number;
  readonly wallMs: number;
  readonly cpuMs: number;
}

/** One timed window of one phase, as the client process saw it. */
export interface PhaseMeasurement {
  readonly delivered: number;
  readonly failed: number;
  readonly wallMs: number;
  /** `process.cpuUsage()` delta of this process over the window (user + system). */
  readonly cpuMs: number;
  /** Bytes the process wrote to stdout + stderr in the window: the function's log volume. */
  readonly logBytes: number;
  /** Peak resident set size of the process so far (`resourceUsage().maxRSS`). */
  readonly peakRssMb: number;
  /** Worker only: handler invocations (batches), their summed wall time and CPU. */
  readonly invocations?: number;
  readonly handlerMs?: number;
  readonly handlerCpuMs?: number;
  /** Worker with an auth hook only: the bundle's hook counters at the start and end of the window (bench/authHook.ts). */
  readonly authHook?: { readonly atStart: AuthHookStats; readonly atEnd: AuthHookStats };
  /** Worker only: the handler's stages (the `mailrelay:stage` channel): summed ms and occurrences per stage. */
  readonly stages?: Readonly<Record<string, Timing>>;
  /** Worker only: AWS calls as this process saw them (sent → response read), by `Service.Operation`: the function's and the poller's. */
  readonly awsCalls?: Readonly<Record<string, Timing>>;
}

export interface Timing {
  readonly ms: number;
  readonly count: number;
}

/** Wall-time sums by name, for the timed window. */
class Timings {
  private sums = new Map<string, { ms: number; count: number }>();
  public add(name: string, ms: number): void {
    const sum = this.sums.get(name) ?? { ms: 0, count: 0 };
    sum.ms += ms;
    sum.count += 1;
    this.sums.set(name, sum);
  }
  public take(): Record<string, Timing> {
    const taken = Object.fromEntries(this.sums);
    this.sums = new Map();
    return taken;
  }
}

const stageTimings = new Timings();
const awsTimings = new Timings();
/** `X-Amz-Target` prefixes → the service names the AWS table uses. */
const SERVICES: Readonly<Record<string, string>> = { DynamoDB_20120810: 'DynamoDB', AmazonSQS: 'SQS', secretsmanager: 'SecretsManager', AmazonSSM: 'SSM', AWSEvents: 'EventBridge' };

/** The bundle's stages and every AWS call of this process, on diagnostics channels: nothing injected into the bundle. */
function listen(): void {
  subscribe(STAGE_CHANNEL, (message) => {
    const { stage, ms } = message as StageTiming;
    stageTimings.add(stage, ms);
  });
  const sent = new WeakMap<ClientRequest, { name: string; at: number }>();
  subscribe('http.client.request.start', (message) => {
    const request = (message as { request: ClientRequest }).request;
    const target = String(request.getHeader('x-amz-target') ?? '');
    if (!target.includes('.')) return;
    const prefix = target.slice(0, target.indexOf('.'));
    sent.set(request, { name: `${SERVICES[prefix] ?? prefix}.${target.slice(target.lastIndexOf('.') + 1)}`, at: performance.now() });
  });
  // Published when the response's headers arrive (despite its name): the call ends with its body.
  subscribe('http.client.response.finish', (message) => {
    const { request, response } = message as { request: ClientRequest; response: IncomingMessage };
    const call = sent.get(request);
    if (call) response.once('end', () => awsTimings.add(call.name, performance.now() - call.at));
  });
}

// Count what the process writes (Powertools logs, EMF metrics): Lambda ships it to CloudWatch Logs.
let outputBytes = 0;
for (const stream of [process.stdout, process.stderr]) {
  const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
  stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    outputBytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    return write(chunk, ...rest);
  }) as typeof stream.write;
}

/** Stop a drain after this many empty receives in a row (something failed and waits for its visibility timeout). */
const MAX_EMPTY_POLLS = 5;

const cpuMsSince = (start: NodeJS.CpuUsage): number => {
  const delta = process.cpuUsage(start);
  return (delta.user + delta.system) / 1000;
};

interface Runner {
  run(count: number): Promise<{ delivered: number; failed: number }>;
  handlerStats?: () => { invocations: number; handlerMs: number; handlerCpuMs: number };
  authHookStats?: () => AuthHookStats | undefined;
  close(): Promise<void>;
}

async function workerRunner(spec: WorkerPhaseSpec): Promise<Runner> {
  listen();
  const module = (await import(spec.bundle)) as {
    handler: (event: unknown, context: unknown) => Promise<{ batchItemFailures: { itemIdentifier: string }[] }>;
    authHookStats?: () => AuthHookStats | undefined;
  };
  let invocations = 0;
  let handlerMs = 0;
  let handlerCpuMs = 0;
  const handler: BatchHandler = async (event, context) => {
    const started = performance.now();
    const cpu = process.cpuUsage();
    invocations += 1;
    try {
      return await module.handler(event, {
        ...context,
        functionName: 'mailrelay-bench',
        functionVersion: '$LATEST',
        invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:mailrelay-bench',
        memoryLimitInMB: String(spec.memoryMb),
        awsRequestId: `bench-${process.pid}-${invocations}`,
        logGroupName: '/aws/lambda/mailrelay-bench',
        logStreamName: 'bench',
        callbackWaitsForEmptyEventLoop: false,
      });
    } finally {
      handlerMs += performance.now() - started;
      handlerCpuMs += cpuMsSince(cpu);
    }
  };
  // The poller stands in for Lambda's event source mapping; its SQS client is not the bundle's.
  const sqs = new SQSClient(localAwsClientConfig(spec.sqsEndpoint));
  return {
    async run(count) {
      let delivered = 0;
      let failed = 0;
      let empty = 0;
      while (delivered < count && empty < MAX_EMPTY_POLLS) {
        const result =
          spec.batchSize > 10
            ? await pollWindow(handler, sqs, spec)
            : await pollOnce(handler, { client: sqs, queueUrl: spec.queueUrl, queueArn: spec.queueArn, batchSize: spec.batchSize, waitTimeSeconds: 1 });
        delivered += result.deleted;
        failed += result.failed;
        empty = result.received === 0 ? empty + 1 : 0;
      }
      return { delivered, failed };
    },
    handlerStats: () => ({ invocations, handlerMs, handlerCpuMs }),
    authHookStats: () => module.authHookStats?.(),
    async close() {
      sqs.destroy();
    },
  };
}

/**
 * Lambda's batching window, for batches over SQS's 10 per receive: receive until `batchSize`
 * records or an empty receive, invoke once, delete the successes in requests of 10.
 */
async function pollWindow(handler: BatchHandler, sqs: SQSClient, spec: WorkerPhaseSpec): Promise<{ received: number; deleted: number; failed: number }> {
  const messages: Message[] = [];
  while (messages.length < spec.batchSize) {
    const response = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: spec.queueUrl, MaxNumberOfMessages: Math.min(10, spec.batchSize - messages.length), WaitTimeSeconds: messages.length ? 0 : 1, MessageSystemAttributeNames: ['All'], MessageAttributeNames: ['All'] }),
    );
    if (!response.Messages?.length) break;
    messages.push(...response.Messages);
  }
  if (messages.length === 0) return { received: 0, deleted: 0, failed: 0 };
  const event = {
    Records: messages.map((m) => ({
      messageId: m.MessageId ?? '',
      receiptHandle: m.ReceiptHandle ?? '',
      body: m.Body ?? '',
      attributes: { ApproximateReceiveCount: m.Attributes?.['ApproximateReceiveCount'] ?? '1', SentTimestamp: m.Attributes?.['SentTimestamp'] ?? String(Date.now()), SenderId: 'bench', ApproximateFirstReceiveTimestamp: String(Date.now()) },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: spec.queueArn,
      awsRegion: 'us-east-1',
    })),
  };
  const deadline = Date.now() + 900_000;
  const result = await handler(event as Parameters<BatchHandler>[0], { getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()) });
  const failed = new Set((result?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
  const done = messages.filter((m) => !failed.has(m.MessageId ?? ''));
  for (let i = 0; i < done.length; i += 10) {
    await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: spec.queueUrl, Entries: done.slice(i, i + 10).map((m, j) => ({ Id: String(j), ReceiptHandle: m.ReceiptHandle! })) }));
  }
  return { received: messages.length, deleted: done.length, failed: failed.size };
}

/** The worker's claim lease: the invocation's remaining time (15 min at most) + relay.ts's 60 s margin. */
const FLOOR_CLAIM_LEASE_MS = 900_000 + 60_000;

/** The worker's claim as createWorker builds it: a low-level client with `cacheMiddleware`, config from the environment. */
function floorClaim(spec: FloorPhaseSpec): (index: number) => Promise<boolean> {
  const store = new DynamoIdempotencyStore({
    client: DynamoDBDocumentClient.from(new DynamoDBClient({})),
    claimClient: new DynamoDBClient({ cacheMiddleware: true }),
    tableName: spec.idempotencyTable,
  });
  return async (index) => (await store.claim(`${spec.keyPrefix}${index}`, FLOOR_CLAIM_LEASE_MS)).outcome === 'claimed';
}

function nodemailerRunner(spec: NodemailerPhaseSpec | FloorPhaseSpec): Runner {
  const ca = readFileSync(spec.caFile);
  const transportOptions = (route: number) => {
    const credentials = spec.routes[route];
    if (!credentials) throw new Error(`no credentials for route ${route}`);
    return {
      host: '127.0.0.1',
      port: spec.relayPort,
      secure: false,
      requireTLS: true,
      tls: { ca },
      auth: { user: credentials.user, pass: credentials.pass },
    };
  };
  const pooled = spec.kind === 'pooled' || spec.kind === 'floor';
  const claim = spec.kind === 'floor' ? floorClaim(spec) : undefined;
  const pools: Transporter[] =
    pooled
      ? spec.routes.map((_, route) =>
          nodemailer.createTransport({ ...transportOptions(route), pool: true, maxConnections: spec.maxConnections, maxMessages: spec.maxMessagesPerConnection }),
        )
      : [];
  let next = 0;
  const sendOne = async (index: number): Promise<boolean> => {
    const { address, route } = recipientOf(index, spec.routes.length, spec.greeting);
    try {
      if (claim && !(await claim(index))) return false;
      if (pooled) {
        await pools[route]!.sendMail(mailOptions(address));
      } else {
        const transport = nodemailer.createTransport(transportOptions(route));
        try {
          await transport.sendMail(mailOptions(address));
        } finally {
          transport.close();
        }
      }
      return true;
    } catch {
      return false;
    }
  };
  return {
    async run(count) {
      const first = next;
      next += count;
      let cursor = first;
      let delivered = 0;
      let failed = 0;
      const lane = async (): Promise<void> => {
        while (cursor < first + count) {
          const index = cursor++;
          if (await sendOne(index)) delivered += 1;
          else failed += 1;
        }
      };
      await Promise.all(Array.from({ length: Math.max(1, Math.min(spec.inFlight, count)) }, lane));
      return { delivered, failed };
    },
    async close() {
      for (const pool of pools) pool.close();
    },
  };
}

/** V8's sampling profiler in this process, started just before a timed window (1 ms samples, as `--cpu-prof`). */
async function startProfiler(): Promise<Session> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 1000 });
  await session.post('Profiler.start');
  return session;
}

let spec: PhaseSpec | undefined;
let runner: Runner | undefined;

serve(
  {
    async start(payload: PhaseSpec): Promise<{ loadMs: number }> {
      const started = performance.now();
      spec = payload;
      runner = spec.kind === 'worker' ? await workerRunner(spec) : nodemailerRunner(spec);
      return { loadMs: performance.now() - started };
    },
    async warmup(): Promise<{ delivered: number; failed: number }> {
      if (!spec || !runner) throw new Error('not started');
      return spec.warmup > 0 ? runner.run(spec.warmup) : { delivered: 0, failed: 0 };
    },
    async measure(request: MeasureRequest | undefined): Promise<PhaseMeasurement> {
      if (!spec || !runner) throw new Error('not started');
      const profiler = request?.cpuProfile ? await startProfiler() : undefined;
      const before = runner.handlerStats?.();
      const hookBefore = runner.authHookStats?.();
      stageTimings.take();
      awsTimings.take();
      const bytes = outputBytes;
      const cpu = process.cpuUsage();
      const started = performance.now();
      const { delivered, failed } = await runner.run(spec.messages);
      const wallMs = performance.now() - started;
      const cpuMs = cpuMsSince(cpu);
      if (profiler && request?.cpuProfile) {
        const { profile } = await profiler.post('Profiler.stop');
        profiler.disconnect();
        writeFileSync(`${request.cpuProfile}.cpuprofile`, JSON.stringify(profile));
        writeFileSync(`${request.cpuProfile}.json`, `${JSON.stringify({ kind: spec.kind, delivered, wallMs, cpuMs } satisfies ProfileSidecar)}\n`);
      }
      const after = runner.handlerStats?.();
      const hookAfter = runner.authHookStats?.();
      return {
        delivered,
        failed,
        wallMs,
        cpuMs,
        logBytes: outputBytes - bytes,
        peakRssMb: process.resourceUsage().maxRSS / 1024,
        ...(before && after
          ? { invocations: after.invocations - before.invocations, handlerMs: after.handlerMs - before.handlerMs, handlerCpuMs: after.handlerCpuMs - before.handlerCpuMs, stages: stageTimings.take(), awsCalls: awsTimings.take() }
          : {}),
        ...(hookAfter && hookAfter.calls + hookAfter.cacheHits > 0
          ? { authHook: { atStart: hookBefore ?? { calls: 0, cacheHits: 0, failures: 0, totalCallMs: 0, recentCallMs: [] }, atEnd: hookAfter } }
          : {}),
      };
    },
  },
  async () => {
    await runner?.close();
  },
);
