/**
 * Rows: the Lambda runtime itself. The time budget (no delivery starts with less than
 * MIN_REMAINING_TIME_MS left), a sandbox that dies between the relay's 250 and the idempotency
 * record, and two sandboxes holding the same message at once.
 */
import { ChangeMessageVisibilityCommand, DeleteMessageCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { createWorker } from '../../../lambda/handlers/createWorker.js';
import { processBatch } from '../../../lambda/worker/processBatch.js';
import { readSettings } from '../../../lambda/worker/settings.js';
import type { QueueRecord, WorkerLogger } from '../../../lambda/worker/types.js';
import { expectLog, findLogs, mail } from '../helpers/faultHarness.js';
import type { RowKit } from '../helpers/rowKit.js';

const GROUP = 'lambda';
/** The worker's default MIN_REMAINING_TIME_MS. */
const MIN_REMAINING_MS = 10_000;

/** A WorkerLogger that keeps its lines, for the workers this file builds itself. */
function memoryLogger(lines: { level: string; message: string; [k: string]: unknown }[]): WorkerLogger {
  const at =
    (level: string) =>
    (message: string, ...extra: Record<string, unknown>[]) =>
      void lines.push(Object.assign({ level, message }, ...extra));
  return { debug: at('DEBUG'), info: at('INFO'), warn: at('WARN'), error: at('ERROR') };
}

export function lambdaRows(kit: RowKit): void {
  describe('Lambda faults', () => {
    it('remaining time runs out mid-batch: the delivery under way completes, no new one starts, the rest is retried', async () => {
      // Prepare: one connection for the route, so the batch's three messages go one after another;
      // the clock drops below MIN_REMAINING_TIME_MS as soon as the first one is relayed.
      const relay = await kit.smtp();
      await kit.route('l-out-of-time', relay.port, { limits: { maxConnections: 1 } });
      const to = ['bob@example.net'];
      const keys = ['out-of-time-1', 'out-of-time-2', 'out-of-time-3'];
      const mark = kit.h.mark();
      await kit.h.world.enqueue(keys.map((key) => mail(key, { to, binding: 'l-out-of-time' })));

      // Act
      const first = await kit.h.invoke({ remainingTimeMs: () => (relay.messages.length >= 1 ? MIN_REMAINING_MS / 2 : 60_000) });
      const relayedInFirst = relay.messages.length;
      const rest = await kit.h.drive();

      // Assess: one relayed in the short invocation (the others were waiting for the connection
      // when the time ran low), the other two retried and relayed once each by the next invocation.
      expect([first.received, first.failed.length, relayedInFirst]).toEqual([3, 2, 1]);
      expect(findLogs(kit.h, mark, { message: 'deferred', reason: 'out-of-time', receiveCount: 1 })).toHaveLength(2);
      expect(rest.map((r) => [r.received, r.failed.length])).toEqual([[2, 0]]);
      expect(relay.messages).toHaveLength(3);
      for (const key of keys) {
        await kit.finish({ group: GROUP, row: `remaining time runs out mid-batch (${key.slice(-1)}/3)`, key, recipients: to, relays: [relay], rounds: [first, ...rest] });
      }
    });

    it('the sandbox dies after the relay\'s 250, before the idempotency record is completed: the redelivery waits for the claim\'s lease, then sends again (at-least-once, documented)', async () => {
      // Prepare
      const relay = await kit.smtp();
      await kit.route('l-crash', relay.port);
      const mark = kit.h.mark();
      await kit.h.world.enqueue([mail('crash', { to: ['bob@example.net'], binding: 'l-crash' })]);
      kit.h.dynamoProxy.failNext({ target: 'DynamoDB_20120810.BatchWriteItem', bodyIncludes: 'settledAt', type: 'InternalServerError' });

      // Act 1: relayed, the settle write fails, and the batch response never reaches SQS.
      const crashed = await kit.h.invoke({ crash: true });
      const state = await kit.h.world.documents.send(new GetCommand({ TableName: kit.h.world.idempotencyTable, Key: { id: 'l-crash#crash' } }));
      // Act 2: the redelivery while the dead invocation's claim is still leased.
      const leased = await kit.h.invoke();
      // Act 3: the lease runs out (time passes), the next receive claims the key again.
      await kit.h.world.documents.send(
        new UpdateCommand({ TableName: kit.h.world.idempotencyTable, Key: { id: 'l-crash#crash' }, UpdateExpression: 'SET leaseUntil = :past', ExpressionAttributeValues: { ':past': 0 } }),
      );
      const after = await kit.h.drive();

      // Assess
      expect(crashed.failed).toHaveLength(1);
      expect(state.Item).toMatchObject({ status: 'in-progress' });
      expectLog(kit.h, mark, { message: 'could not record delivery state', idempotencyKey: 'crash', level: 'ERROR' });
      expect(leased.failed).toHaveLength(1);
      expectLog(kit.h, mark, { message: 'another invocation is delivering this message; will retry', idempotencyKey: 'crash', reason: 'in-progress' });
      expect(after.map((r) => r.failed.length)).toEqual([0]);
      // The relay answered 250 twice: the one window no idempotency record can close.
      expect(relay.messages.map((m) => m.rcptTo)).toEqual([['bob@example.net'], ['bob@example.net']]);
      await kit.finish({
        group: GROUP,
        row: 'crash after 250, before the settle',
        key: 'crash',
        recipients: ['bob@example.net'],
        relays: [relay],
        rounds: [crashed, leased, ...after],
        outcome: 'held while leased, then resent once',
        expectDuplicated: 1,
        note: 'at-least-once window, documented',
      });
    });

    it('the same message in two concurrent invocations: relayed once; the other copy waits, then is acknowledged as a duplicate', async () => {
      // Prepare: two sandboxes (two workers, each with its own pool and clients: the code the
      // handler wires) and two SQS copies of the same message.
      const relay = await kit.smtp({ onData: () => new Promise((resolve) => setTimeout(() => resolve(undefined), 200)) });
      await kit.route('l-concurrent', relay.port);
      const body = mail('concurrent', { to: ['bob@example.net'], binding: 'l-concurrent' });
      await kit.h.world.enqueue([body, body]);
      const { Messages = [] } = await kit.h.world.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: kit.h.world.queues.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageSystemAttributeNames: ['All'] }),
      );
      expect(Messages).toHaveLength(2);
      const records: QueueRecord[] = Messages.map((m) => ({
        messageId: m.MessageId!,
        receiptHandle: m.ReceiptHandle!,
        body: m.Body!,
        attributes: { ApproximateReceiveCount: m.Attributes?.['ApproximateReceiveCount'] },
        eventSourceARN: kit.h.world.queues.queueArn,
      }));
      const lines: { level: string; message: string; [k: string]: unknown }[] = [];
      const sandbox = () => createWorker({ settings: readSettings(process.env), logger: memoryLogger(lines), metrics: { addMetric: () => undefined } });
      const [a, b] = [sandbox(), sandbox()];
      const mark = kit.h.mark();

      // Act
      const results = await Promise.all(
        [a, b].map((worker, i) =>
          processBatch([records[i]!], { ...worker, claimLeaseMs: 120_000 }, { remainingTimeMs: () => 60_000, minRemainingMs: MIN_REMAINING_MS }),
        ),
      );
      // Play the event source mapping: delete what succeeded, let the failed copy come back.
      const failed = results.flatMap((r) => r.batchItemFailures.map((f) => f.itemIdentifier));
      for (const record of records) {
        const queue = { QueueUrl: kit.h.world.queues.queueUrl, ReceiptHandle: record.receiptHandle };
        if (failed.includes(record.messageId)) await kit.h.world.sqs.send(new ChangeMessageVisibilityCommand({ ...queue, VisibilityTimeout: 0 }));
        else await kit.h.world.sqs.send(new DeleteMessageCommand(queue));
      }
      const rounds = await kit.h.drive();
      a.pool.closeIdle();
      b.pool.closeIdle();

      // Assess
      expect(failed).toHaveLength(1);
      expect(lines.filter((l) => l.message === 'another invocation is delivering this message; will retry')).toHaveLength(1);
      expect(lines.filter((l) => l.message === 'relayed')).toHaveLength(1);
      expectLog(kit.h, mark, { message: 'duplicate: already delivered', idempotencyKey: 'concurrent', outcome: 'duplicate' });
      expect(kit.h.metricsSince(mark)).toMatchObject({ Duplicate: 1 });
      expect(relay.messages.map((m) => m.rcptTo)).toEqual([['bob@example.net']]);
      await kit.finish({
        group: GROUP,
        row: 'same message, two concurrent invocations',
        key: 'concurrent',
        recipients: ['bob@example.net'],
        relays: [relay],
        rounds,
        outcome: 'relayed once; the other copy: busy, then acknowledged as duplicate',
      });
    });
  });
}
