/**
 * The `mailrelay:stage` diagnostics channel (lambda/core/stageTimings.ts): a batch relayed to a
 * real smtp-server (STARTTLS + AUTH) publishes each record's stages and the batch's, which the
 * bench adds up into its invocation breakdown; without a subscriber nothing is timed.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STAGE_CHANNEL, startStage, type StageTiming } from '../../lambda/core/stageTimings.js';
import { SmtpPool } from '../../lambda/core/smtp/pool.js';
import type { SettleEntry, SettleFailure } from '../../lambda/core/ports.js';
import { processBatch } from '../../lambda/worker/processBatch.js';
import type { WorkerDependencies } from '../../lambda/worker/processRecord.js';
import type { QueueRecord } from '../../lambda/worker/types.js';
import { testCerts } from '../../local/certs.js';
import { startSmtpRelay, type SmtpRelay } from '../../local/smtpRelay.js';
import { MemoryConfigStore, MemoryDeadLetterQueue, MemoryIdempotencyStore, MemorySecretSource } from '../helpers/memoryPorts.js';

/** The memory store with the batch settle processBatch groups writes into. */
class BatchingIdempotencyStore extends MemoryIdempotencyStore {
  public async settleMany(entries: readonly SettleEntry[]): Promise<readonly SettleFailure[]> {
    for (const { key, record } of entries) await this.settle(key, record);
    return [];
  }
}

let relay: SmtpRelay;
let pool: SmtpPool;

beforeAll(async () => {
  relay = await startSmtpRelay({ users: { u: 'p' } });
  pool = new SmtpPool({ ca: testCerts.ca });
});
afterAll(async () => {
  pool.closeIdle();
  await relay.stop();
});

const record = (i: number): QueueRecord => ({
  messageId: `sqs-${i}`,
  receiptHandle: 'rh',
  body: JSON.stringify({ idempotencyKey: `k${i}`, from: 'billing@acme.example', to: [`r${i}@example.net`], subject: 's', text: 't' }),
  attributes: { ApproximateReceiveCount: '1' },
});

function deps(): WorkerDependencies {
  const quiet = (): void => undefined;
  return {
    config: new MemoryConfigStore({ global: { scope: 'global', relay: { host: '127.0.0.1', port: relay.port, timeoutSeconds: 5 }, auth: { user: 'u', pass: { value: 'p' } } } }),
    secrets: new MemorySecretSource(),
    pool,
    idempotency: new BatchingIdempotencyStore(),
    deadLetters: new MemoryDeadLetterQueue(),
    logger: { debug: quiet, info: quiet, warn: quiet, error: quiet },
    metrics: { addMetric: quiet },
    maxReceiveCount: 3,
    claimLeaseMs: 60_000,
  };
}

describe('stage timings', () => {
  it('a batch of 3 publishes parse, claim, config, compose, session and smtp per record, then records and settle once', async () => {
    // Prepare
    const seen: StageTiming[] = [];
    const listener = (message: unknown): void => void seen.push(message as StageTiming);
    subscribe(STAGE_CHANNEL, listener);

    // Act
    let result;
    try {
      result = await processBatch([record(1), record(2), record(3)], deps(), { remainingTimeMs: () => 60_000, minRemainingMs: 20_000, concurrency: 3 });
    } finally {
      unsubscribe(STAGE_CHANNEL, listener);
    }

    // Assess
    expect(result.batchItemFailures).toEqual([]);
    expect(relay.messages).toHaveLength(3);
    const counts = Object.fromEntries(['parse', 'claim', 'config', 'compose', 'session', 'smtp', 'records', 'settle', 'events'].map((s) => [s, seen.filter((t) => t.stage === s).length]));
    expect(counts).toEqual({ parse: 3, claim: 3, config: 3, compose: 3, session: 3, smtp: 3, records: 1, settle: 1, events: 0 });
    expect(seen.every((t) => Number.isFinite(t.ms) && t.ms >= 0)).toBe(true);
    // The batch's records stage spans every record's SMTP transaction.
    const records = seen.find((t) => t.stage === 'records')!.ms;
    expect(seen.filter((t) => t.stage === 'smtp').every((t) => t.ms <= records)).toBe(true);
  });

  it('times nothing without a subscriber: a stage started then is not published later', () => {
    // Prepare
    const end = startStage('claim');
    const seen: unknown[] = [];
    const listener = (message: unknown): void => void seen.push(message);
    subscribe(STAGE_CHANNEL, listener);

    // Act
    end();
    unsubscribe(STAGE_CHANNEL, listener);

    // Assess
    expect(seen).toEqual([]);
  });
});
