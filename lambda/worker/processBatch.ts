/**
 * An SQS batch → partial batch response. Records run concurrently (connections are bounded per
 * route by the pool); a record that has not started when the invocation's remaining time runs
 * low is reported as failed so it is retried, never half-sent.
 */
import { startStage, timeStage } from '../core/stageTimings.js';
import { EventBatch } from './events.js';
import { exhausted, processRecord, type WorkerDependencies } from './processRecord.js';
import { SettleBatch } from './settleBatch.js';
import type { QueueRecord } from './types.js';

export interface BatchOptions {
  /** Milliseconds left in the invocation (Lambda's context.getRemainingTimeInMillis). */
  readonly remainingTimeMs: () => number;
  /** Do not start a delivery with less time than this left. @default 2 × the longest relay timeout + 5 s, see handler */
  readonly minRemainingMs: number;
  /** Records in flight at once. @default 10 */
  readonly concurrency?: number;
}

export interface BatchResult {
  readonly batchItemFailures: { itemIdentifier: string }[];
}

export async function processBatch(records: readonly QueueRecord[], batchDeps: WorkerDependencies, options: BatchOptions): Promise<BatchResult> {
  // The batch's delivery events, published once every record is settled (docs/design.md §3).
  const eventBatch = batchDeps.events ? new EventBatch({ publisher: batchDeps.events, logger: batchDeps.logger, metrics: batchDeps.metrics }) : undefined;
  // The batch's settles go out together (lambda/worker/settleBatch.ts), all before this returns.
  const store = batchDeps.idempotency;
  const settles = store.settleMany ? new SettleBatch({ write: (entries) => store.settleMany!(entries) }) : undefined;
  const deps: WorkerDependencies = {
    ...batchDeps,
    ...(eventBatch ? { eventBatch } : {}),
    ...(settles ? { settles } : {}),
    // A record waiting for the payload budget is deferred once no delivery may start (payloadBudget.ts).
    payloadWaitMs: () => options.remainingTimeMs() - options.minRemainingMs,
  };
  const failures: string[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < records.length) {
      const record = records[next++]!;
      if (options.remainingTimeMs() < options.minRemainingMs) {
        const receiveCount = Number(record.attributes.ApproximateReceiveCount ?? '1') || 1;
        if (receiveCount >= deps.maxReceiveCount) {
          // Its last receive: dead-letter it with the reason rather than let the queue move it without one.
          const outcome = await exhausted(record, deps, undefined, 'out-of-time', 'the invocation ran out of time before this record could start on its last receive');
          if (outcome === 'retry') failures.push(record.messageId);
          continue;
        }
        deps.logger.warn('not enough time left to start a delivery; will retry', { sqsMessageId: record.messageId, outcome: 'deferred', reason: 'out-of-time', remainingMs: options.remainingTimeMs() });
        failures.push(record.messageId);
        continue;
      }
      try {
        const outcome = await processRecord(record, deps);
        if (outcome === 'retry') failures.push(record.messageId);
      } catch (error) {
        // A bug or an unexpected failure: retry this record only, never its batch-mates.
        deps.logger.error('unexpected failure processing a record; will retry', { sqsMessageId: record.messageId, detail: error instanceof Error ? error.stack : String(error) });
        failures.push(record.messageId);
      }
    }
  };
  const width = Math.max(1, Math.min(options.concurrency ?? 10, records.length));
  const recordsDone = startStage('records');
  try {
    await Promise.all(Array.from({ length: width }, worker));
  } finally {
    recordsDone();
    // Before SQS deletes a record, its delivery state is on record (or its failure logged).
    if (settles) await timeStage('settle', () => settles.flush());
  }
  // Never throws; a failed publish is logged and counted, the records' fates stand.
  if (eventBatch) await timeStage('events', () => eventBatch.flush());
  // Report in the batch's order: SQS reads them as a set, humans read logs in order.
  const failed = new Set(failures);
  return { batchItemFailures: records.filter((r) => failed.has(r.messageId)).map((r) => ({ itemIdentifier: r.messageId })) };
}
