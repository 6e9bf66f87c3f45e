/**
 * Child process of the limits bench phase (bench/limits.ts): one worker sandbox — createWorker
 * with its own pool and limiter on the shared relay-state table — polling the queue as Lambda's
 * event source mapping would, until the orchestrator says stop. Deferred records wait for the
 * delay the worker set (the limiter's), as they would in SQS. Reports how many records it
 * handled and how many calls its limiter made to the relay-state table.
 */
import { SQSClient } from '@aws-sdk/client-sqs';
import { pollOnce } from '../lambda/adapters/sqsPoller.js';
import { createWorker } from '../lambda/handlers/createWorker.js';
import { processBatch } from '../lambda/worker/processBatch.js';
import { readSettings } from '../lambda/worker/settings.js';
import { serve } from './ipc.js';

export interface LimitsWorkerReport {
  readonly received: number;
  readonly deleted: number;
  readonly deferred: number;
  /** Calls the limiter made to the relay-state table (leases, rate, throttle). */
  readonly limiterCalls: number;
  readonly limitDeferrals: number;
}

const quiet = (): void => undefined;
let limitDeferrals = 0;
const worker = createWorker({
  settings: readSettings(process.env),
  logger: {
    debug: quiet,
    info: (message) => {
      if (message === 'relay at its fleet-wide limit; deferred') limitDeferrals += 1;
    },
    warn: quiet,
    error: (message, ...extra) => process.stderr.write(`${message} ${JSON.stringify(extra)}\n`),
  },
  metrics: { addMetric: quiet },
});

const sqs = new SQSClient({});
let running: Promise<void> | undefined;
let stopping = false;
const totals = { received: 0, deleted: 0, deferred: 0 };

async function loop(queueUrl: string, queueArn: string): Promise<void> {
  while (!stopping) {
    const result = await pollOnce(
      (event) => processBatch(event.Records, { ...worker, claimLeaseMs: 60_000, mayStartDelivery: () => true }, { remainingTimeMs: () => 60_000, minRemainingMs: 0 }),
      { client: sqs, queueUrl, queueArn, waitTimeSeconds: 1 },
    );
    totals.received += result.received;
    totals.deleted += result.deleted;
    totals.deferred += result.failed;
  }
}

serve({
  start(payload: { queueUrl: string; queueArn: string }): void {
    running = loop(payload.queueUrl, payload.queueArn);
  },
  async stop(): Promise<LimitsWorkerReport> {
    stopping = true;
    await running;
    worker.pool.closeIdle();
    return { ...totals, limiterCalls: worker.pool.limits.limiter.calls, limitDeferrals };
  },
});
