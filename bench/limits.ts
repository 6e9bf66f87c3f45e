/**
 * The limits phase of `npm run bench` (docs/limits.md): N worker processes (each its own sandbox:
 * pool, caches, limiter) share one relay-state table, one queue and one relay whose config says
 * `maxConnections: L` and `messagesPerSecond: R`. Measured at the relay: the most sessions open at
 * once, the rate over the run and the most messages in any one second; from the workers: the calls
 * their limiters made to the relay-state table per message (what the fleet-wide limits cost), and
 * how often a message was deferred to wait for a limit. Every message must arrive exactly once.
 */
import { CreateTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { join } from 'node:path';
import { createQueues } from '../local/emulators.js';
import { startSmtpRelay } from '../local/smtpRelay.js';
import { REPO_ROOT } from './build.js';
import { startChild, type BenchChild } from './ipc.js';
import type { LimitsWorkerReport } from './limitsWorker.js';

export interface LimitsPhaseOptions {
  /** Worker processes per run, e.g. [1, 2, 4]. */
  readonly workerCounts: readonly number[];
  readonly messages: number;
  readonly maxConnections: number;
  readonly messagesPerSecond: number;
}

export interface LimitsRun {
  readonly workers: number;
  readonly maxConnections: number;
  readonly messagesPerSecond: number;
  readonly messages: number;
  /** Distinct recipients the relay accepted, and recipients it accepted more than once. */
  readonly delivered: number;
  readonly duplicates: number;
  readonly peakSessions: number;
  /** Messages per second from the first to the last accepted message. */
  readonly observedRate: number;
  /** The most messages accepted in any one-second window (the limit allows R + a burst of R). */
  readonly peakInOneSecond: number;
  /** Relay-state table calls made by the limiters, per delivered message. */
  readonly limiterCallsPerMessage: number;
  /** Deferrals to wait for a limit, per delivered message. */
  readonly limitDeferralsPerMessage: number;
  readonly seconds: number;
}

export interface LimitsWorld {
  readonly runId: string;
  readonly dynamo: DynamoDBClient;
  readonly sqs: SQSClient;
  readonly configTable: string;
  /** The worker environment of the bench (endpoints, tables, CA). */
  readonly env: NodeJS.ProcessEnv;
  readonly user: string;
  readonly password: string;
  readonly secretId: string;
  readonly log: (line: string) => void;
}

const DEADLINE_MS = 180_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function runLimitsPhase(world: LimitsWorld, options: LimitsPhaseOptions): Promise<LimitsRun[]> {
  const runs: LimitsRun[] = [];
  for (const workers of options.workerCounts) {
    const run = await runOnce(world, options, workers);
    world.log(
      `[limits] ${workers} worker(s), L=${run.maxConnections} R=${run.messagesPerSecond}/s: ${run.delivered}/${run.messages} delivered, peak ${run.peakSessions} sessions, ` +
        `${run.observedRate.toFixed(1)} msg/s (peak ${run.peakInOneSecond} in 1 s), ${run.limiterCallsPerMessage.toFixed(2)} limiter calls/msg (${run.seconds.toFixed(1)} s)`,
    );
    runs.push(run);
  }
  return runs;
}

async function runOnce(world: LimitsWorld, options: LimitsPhaseOptions, workers: number): Promise<LimitsRun> {
  const tag = `${world.runId}-w${workers}`;
  const relay = await startSmtpRelay({ users: { [world.user]: world.password } });
  const stateTable = `mailrelay-bench-relay-state-${tag}`;
  await world.dynamo.send(
    new CreateTableCommand({ TableName: stateTable, AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }], KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }], BillingMode: 'PAY_PER_REQUEST' }),
  );
  const queues = await createQueues(world.sqs, { name: `mailrelay-limits-${tag}`, maxReceiveCount: 200, visibilityTimeout: 60 });
  const binding = `limits-${tag}`;
  await DynamoDBDocumentClient.from(world.dynamo).send(
    new PutCommand({
      TableName: world.configTable,
      Item: {
        scope: `binding#${binding}`,
        relay: { host: '127.0.0.1', port: relay.port, tls: 'starttls', timeoutSeconds: 30 },
        auth: { type: 'PLAIN', user: world.user, pass: { secret: world.secretId } },
        limits: { maxConnections: options.maxConnections, messagesPerSecond: options.messagesPerSecond },
      },
    }),
  );
  for (let i = 0; i < options.messages; i += 10) {
    const entries = [];
    for (let j = i; j < Math.min(i + 10, options.messages); j++) {
      const body = { idempotencyKey: `${tag}-${j}`, from: `bench@sender${j}.example`, to: [`r${j}@limits.example`], subject: `limits ${j}`, text: 'hello', binding };
      entries.push({ Id: String(j - i), MessageBody: JSON.stringify(body) });
    }
    await world.sqs.send(new SendMessageBatchCommand({ QueueUrl: queues.queueUrl, Entries: entries }));
  }

  const env = { ...world.env, QUEUE_URL: queues.queueUrl, DEAD_LETTER_QUEUE_URL: queues.dlqUrl, RELAY_STATE_TABLE_NAME: stateTable, LIMIT_WAIT_SECONDS: '2', MAX_RECEIVE_COUNT: '200' };
  const children: BenchChild[] = Array.from({ length: workers }, (_, n) =>
    startChild(join(REPO_ROOT, 'bench', 'limitsWorker.ts'), {
      name: `limits worker ${n + 1}/${workers}`,
      execArgv: ['--import', import.meta.resolve('tsx')],
      env,
      onOutput: (chunk, stream) => {
        if (stream === 'stderr') process.stderr.write(`[limits worker ${n + 1}] ${chunk.toString()}`);
      },
    }),
  );
  const started = Date.now();
  try {
    await Promise.all(children.map((c) => c.request('start', { queueUrl: queues.queueUrl, queueArn: queues.queueArn })));
    const recipients = (): Set<string> => new Set(relay.messages.flatMap((m) => m.rcptTo));
    while (recipients().size < options.messages && Date.now() - started < DEADLINE_MS) await sleep(100);
    const seconds = (Date.now() - started) / 1000;
    const reports = await Promise.all(children.map((c) => c.request<LimitsWorkerReport>('stop')));
    const all = relay.messages.flatMap((m) => m.rcptTo);
    const delivered = new Set(all).size;
    const times = relay.messages.map((m) => m.receivedAt.getTime()).sort((a, b) => a - b);
    const span = times.length > 1 ? (times.at(-1)! - times[0]!) / 1000 : 0;
    return {
      workers,
      maxConnections: options.maxConnections,
      messagesPerSecond: options.messagesPerSecond,
      messages: options.messages,
      delivered,
      duplicates: all.length - delivered,
      peakSessions: relay.peakSessions,
      observedRate: span > 0 ? (times.length - 1) / span : 0,
      peakInOneSecond: peakInWindow(times, 1000),
      limiterCallsPerMessage: reports.reduce((sum, r) => sum + r.limiterCalls, 0) / Math.max(1, delivered),
      limitDeferralsPerMessage: reports.reduce((sum, r) => sum + r.limitDeferrals, 0) / Math.max(1, delivered),
      seconds,
    };
  } finally {
    await Promise.all(children.map((c) => c.stop()));
    await relay.stop();
  }
}

/** The most timestamps within any window of `windowMs` (sorted input). */
export function peakInWindow(times: readonly number[], windowMs: number): number {
  let peak = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while (j < times.length && times[j]! < times[i]! + windowMs) j++;
    peak = Math.max(peak, j - i);
  }
  return peak;
}
