/**
 * The fate of a record across receives and redrives (docs/design.md §3), with in-memory queue ports
 * and a real smtp-server relay: accepted recipients are never sent twice, refused ones are
 * retried only after a redrive, deferrals on the last receive are dead-lettered with a reason.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DeadLetterReason } from '../../lambda/core/ports.js';
import { SmtpPool } from '../../lambda/core/smtp/pool.js';
import { processBatch } from '../../lambda/worker/processBatch.js';
import { processRecord, type WorkerDependencies } from '../../lambda/worker/processRecord.js';
import { deadLetterId, type QueueRecord } from '../../lambda/worker/types.js';
import { testCerts } from '../../local/certs.js';
import { startSmtpRelay, type SmtpRelay } from '../../local/smtpRelay.js';
import { MemoryConfigStore, MemoryDeadLetterQueue, MemoryIdempotencyStore, MemorySecretSource } from '../helpers/memoryPorts.js';

let relay: SmtpRelay;
let refused = new Set<string>();
let deferred = new Set<string>();
let maxRecipientsPerTransaction = Infinity;
let refuseSecondMailFrom = false;
const mailFromsBySession = new Map<string, number>();
let deps: WorkerDependencies;
let dlq: MemoryDeadLetterQueue;
let idempotency: MemoryIdempotencyStore;
const logs: { level: string; message: string; extra: Record<string, unknown> }[] = [];
const metrics: string[] = [];

const record = (body: string, receiveCount = 1, messageId = 'sqs-1'): QueueRecord => ({ messageId, receiptHandle: 'rh', body, attributes: { ApproximateReceiveCount: String(receiveCount) } });
/** A redrive of a DLQ entry: a new SQS message with the attributes `mailrelay dlq redrive` gives it. */
const redriveOf = (entry: { body: string; reason: DeadLetterReason }, messageId: string): QueueRecord => ({
  ...record(entry.body, 1, messageId),
  messageAttributes: { 'mailrelay.idempotencyKey': { stringValue: entry.reason.idempotencyKey }, 'mailrelay.deadLetterId': { stringValue: deadLetterId(entry.reason) } },
});
const body = (to: string[], key = 'k1') => JSON.stringify({ idempotencyKey: key, from: 'billing@acme.example', to, subject: 's', text: 't' });

beforeAll(async () => {
  relay = await startSmtpRelay({
    users: { u: 'p' },
    onMailFrom: (_address, session) => {
      const n = (mailFromsBySession.get(session.id) ?? 0) + 1;
      mailFromsBySession.set(session.id, n);
      return refuseSecondMailFrom && n === 2 ? { code: 451, message: '4.3.2 try again' } : undefined;
    },
    onRcptTo: (a, session) =>
      refused.has(a)
        ? { code: 550, message: '5.1.1 unknown' }
        : deferred.has(a)
          ? { code: 451, message: '4.2.0 later' }
          : session.rcptTo.length >= maxRecipientsPerTransaction
            ? { code: 452, message: '4.5.3 too many recipients' }
            : undefined,
  });
});
afterAll(async () => {
  deps.pool.closeIdle();
  await relay.stop();
});
beforeEach(() => {
  relay.clear();
  refused = new Set();
  deferred = new Set();
  maxRecipientsPerTransaction = Infinity;
  refuseSecondMailFrom = false;
  mailFromsBySession.clear();
  logs.length = 0;
  metrics.length = 0;
  dlq = new MemoryDeadLetterQueue();
  idempotency = new MemoryIdempotencyStore();
  const log = (level: string) => (message: string, ...extra: Record<string, unknown>[]) => logs.push({ level, message, extra: Object.assign({}, ...extra) });
  deps = {
    config: new MemoryConfigStore({ global: { scope: 'global', relay: { host: '127.0.0.1', port: relay.port, timeoutSeconds: 5 }, auth: { user: 'u', pass: { value: 'p' }, key: 'acme-lookup' } } }),
    secrets: new MemorySecretSource(),
    pool: new SmtpPool({ ca: testCerts.ca }),
    idempotency,
    deadLetters: dlq,
    logger: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
    metrics: { addMetric: (name) => metrics.push(name) },
    maxReceiveCount: 3,
    claimLeaseMs: 60_000,
  };
});

describe('processRecord', () => {
  it('a deferred recipient is retried alone; the accepted one is not sent again', async () => {
    deferred.add('later@example.net');
    expect(await processRecord(record(body(['now@example.net', 'later@example.net'])), deps)).toBe('retry');
    expect(idempotency.records.get('acme.example#k1')).toMatchObject({ status: 'pending', delivered: ['now@example.net'] });

    deferred.clear();
    expect(await processRecord(record(body(['now@example.net', 'later@example.net']), 2), deps)).toBe('delivered');

    expect(relay.messages.map((m) => m.rcptTo)).toEqual([['now@example.net'], ['later@example.net']]);
    expect(idempotency.records.get('acme.example#k1')?.status).toBe('delivered');
    expect(metrics).toEqual(expect.arrayContaining(['Delivered', 'Deferred']));
    // Momentum's lookup key is logged with every outcome.
    expect(logs.find((l) => l.message === 'relayed')?.extra).toMatchObject({ authKey: 'acme-lookup', mechanism: 'PLAIN', recipient: 'now@example.net' });
  });

  it('a 5xx recipient is dead-lettered alone; a redrive sends only to it', async () => {
    refused.add('bad@example.net');
    expect(await processRecord(record(body(['ok@example.net', 'bad@example.net'])), deps)).toBe('dead-lettered');
    expect(dlq.entries).toHaveLength(1);
    expect(dlq.entries[0]!.reason).toMatchObject({ reason: 'unknown-recipient', responseCode: 550, recipients: ['bad@example.net'], idempotencyKey: 'k1' });

    // The operator fixes the mailbox and redrives the DLQ entry: a new SQS message, same body,
    // with the key attribute `mailrelay dlq redrive` (and SQS's own redrive of the entry) carries.
    refused.clear();
    expect(await processRecord(redriveOf(dlq.entries[0]!, 'sqs-2'), deps)).toBe('delivered');
    expect(relay.messages.map((m) => m.rcptTo)).toEqual([['ok@example.net'], ['bad@example.net']]);
  });

  it('issue 21: a producer’s copy of a dead-lettered key is a duplicate: no relay contact, no second DLQ entry', async () => {
    refused.add('r2@example.net');
    const to = ['r0@example.net', 'r1@example.net', 'r2@example.net'];
    expect(await processRecord(record(body(to), 1, 'sqs-a'), deps)).toBe('dead-lettered');
    const rcptsBefore = relay.messages.length;

    // Message B: the producer sent the same key again (no redrive attribute).
    expect(await processRecord(record(body(to), 1, 'sqs-b'), deps)).toBe('duplicate');
    expect(dlq.entries).toHaveLength(1);
    expect(relay.messages).toHaveLength(rcptsBefore);
    expect(logs.find((l) => l.message.startsWith('duplicate'))?.extra).toMatchObject({ outcome: 'duplicate', previousStatus: 'dead-lettered' });

    // A redrive still gives r2 (and only r2) one more chance.
    expect(await processRecord(redriveOf(dlq.entries[0]!, 'sqs-c'), deps)).toBe('dead-lettered');
    expect(dlq.entries).toHaveLength(2);
    expect(dlq.entries[1]!.reason.recipients).toEqual(['r2@example.net']);
    expect(relay.messages.map((m) => m.rcptTo)).toEqual([['r0@example.net', 'r1@example.net']]);
  });

  it('a recipient refused while another was deferred: the later DLQ entry still carries the relay’s reply', async () => {
    refused.add('bad@example.net');
    deferred.add('later@example.net');
    const to = ['bad@example.net', 'later@example.net'];
    expect(await processRecord(record(body(to)), deps)).toBe('retry');

    deferred.clear();
    expect(await processRecord(record(body(to), 2), deps)).toBe('dead-lettered');

    expect(dlq.entries).toHaveLength(1);
    expect(dlq.entries[0]!.reason).toMatchObject({ reason: 'unknown-recipient', responseCode: 550, recipients: ['bad@example.net'] });
    expect(dlq.entries[0]!.reason.response).toContain('5.1.1 unknown');
    expect(relay.messages.map((m) => m.rcptTo)).toEqual([['later@example.net']]);
  });

  it('still deferred on the last receive: dead-lettered with retries-exhausted and the SMTP reply', async () => {
    deferred.add('later@example.net');
    expect(await processRecord(record(body(['later@example.net']), 3), deps)).toBe('dead-lettered');
    expect(dlq.entries[0]!.reason).toMatchObject({ reason: 'retries-exhausted:smtp-transient', responseCode: 451, recipients: ['later@example.net'], receiveCount: 3 });
  });

  it('452 too many recipients: the rest go in the next transaction on the same connection', async () => {
    maxRecipientsPerTransaction = 2;
    const to = ['r1@example.net', 'r2@example.net', 'r3@example.net', 'r4@example.net', 'r5@example.net'];
    expect(await processRecord(record(body(to)), deps)).toBe('delivered');
    expect(relay.messages.map((m) => m.rcptTo)).toEqual([to.slice(0, 2), to.slice(2, 4), to.slice(4)]);
    expect(relay.connectionCount).toBe(1);
  });

  it('a failure in a later 452 round defers only the recipients still pending, never the delivered ones', async () => {
    maxRecipientsPerTransaction = 1;
    refuseSecondMailFrom = true;
    const to = ['one@example.net', 'two@example.net'];
    expect(await processRecord(record(body(to)), deps)).toBe('retry');
    expect(idempotency.records.get('acme.example#k1')).toMatchObject({ status: 'pending', delivered: ['one@example.net'] });

    refuseSecondMailFrom = false;
    expect(await processRecord(record(body(to), 2), deps)).toBe('delivered');
    expect(relay.messages.map((m) => m.rcptTo)).toEqual([['one@example.net'], ['two@example.net']]);
  });

  it('a redriven message without an idempotencyKey keeps its key, so delivered recipients are not sent again', async () => {
    refused.add('two@example.net');
    const noKey = JSON.stringify({ from: 'billing@acme.example', to: ['one@example.net', 'two@example.net'], subject: 's', text: 't' });
    expect(await processRecord(record(noKey, 1, 'sqs-original'), deps)).toBe('dead-lettered');
    const entry = dlq.entries[0]!;
    expect(entry.reason.idempotencyKey).toBe('sqs-original');

    // `mailrelay dlq redrive` sends the body with the key as a message attribute; SQS gives it a new id.
    refused.clear();
    const redriven = { ...record(entry.body, 1, 'sqs-redriven'), messageAttributes: { 'mailrelay.idempotencyKey': { stringValue: entry.reason.idempotencyKey } } };
    expect(await processRecord(redriven, deps)).toBe('delivered');
    expect(relay.messages.map((m) => m.rcptTo)).toEqual([['one@example.net'], ['two@example.net']]);
  });

  it('local parts are case-sensitive: Bob@ and bob@ are settled separately', async () => {
    deferred.add('bob@example.net');
    const to = ['Bob@example.net', 'bob@example.net'];
    expect(await processRecord(record(body(to)), deps)).toBe('retry');
    deferred.clear();
    expect(await processRecord(record(body(to), 2), deps)).toBe('delivered');
    expect(relay.messages.map((m) => m.rcptTo)).toEqual([['Bob@example.net'], ['bob@example.net']]);
  });

  it('busy on its last receive: dead-lettered with the reason instead of moved without one', async () => {
    await idempotency.claim('acme.example#k1', 60_000);
    expect(await processRecord(record(body(['a@example.net']), 3), deps)).toBe('dead-lettered');
    expect(dlq.entries[0]!.reason).toMatchObject({ reason: 'retries-exhausted:in-progress', recipients: ['a@example.net'] });
    expect(relay.connectionCount).toBe(0);
  });

  it('a DLQ that cannot be written means retry, never acknowledge', async () => {
    dlq.failWith = new Error('SQS down');
    expect(await processRecord(record('{"to": 1}'), deps)).toBe('retry');
    expect(logs.some((l) => l.message === 'could not send to the DLQ; will retry')).toBe(true);
  });

  it('an idempotency store that cannot be claimed means retry, without sending', async () => {
    deps = { ...deps, idempotency: { claim: () => Promise.reject(new Error('throttled')), settle: () => Promise.resolve() } };
    expect(await processRecord(record(body(['a@example.net'])), deps)).toBe('retry');
    expect(relay.connectionCount).toBe(0);
  });
});

describe('processBatch', () => {
  it('does not start deliveries when the remaining time is low, and reports them for retry', async () => {
    let remaining = 60_000;
    const records = [record(body(['a@example.net'], 'b1'), 1, 'm1'), record(body(['b@example.net'], 'b2'), 1, 'm2')];
    const result = await processBatch(records, deps, {
      remainingTimeMs: () => {
        remaining -= 30_000;
        return remaining;
      },
      minRemainingMs: 20_000,
      concurrency: 1,
    });
    expect(result.batchItemFailures).toEqual([{ itemIdentifier: 'm2' }]);
    expect(relay.messages.map((m) => m.rcptTo)).toEqual([['a@example.net']]);
    expect(logs.some((l) => l.extra['reason'] === 'out-of-time')).toBe(true);
  });

  it('out of time on a record’s last receive: dead-lettered with retries-exhausted:out-of-time', async () => {
    const result = await processBatch([record(body(['a@example.net']), 3, 'm9')], deps, { remainingTimeMs: () => 1_000, minRemainingMs: 20_000 });
    expect(result.batchItemFailures).toEqual([]);
    expect(dlq.entries[0]!.reason).toMatchObject({ reason: 'retries-exhausted:out-of-time', sourceMessageId: 'm9' });
    expect(relay.connectionCount).toBe(0);
  });

  it('issue 17: a store with settleMany gets the batch’s settles in one write before processBatch returns; a retry’s state is written before its visibility change', async () => {
    const events: string[] = [];
    const store = idempotency;
    deps = {
      ...deps,
      idempotency: {
        claim: (key, leaseMs, options) => store.claim(key, leaseMs, options),
        settle: () => Promise.reject(new Error('settle called: the batch should use settleMany')),
        settleMany: async (entries) => {
          events.push(`write ${entries.map((e) => `${e.key}=${e.record.status}`).join(',')}`);
          for (const { key, record: r } of entries) await store.settle(key, r);
          return [];
        },
      },
      retries: { delay: async (r) => void events.push(`delay ${r.messageId}`) },
    };
    deferred.add('later@example.net');
    const records = ['b1', 'b2', 'b3', 'b4'].map((key, i) => record(body([key === 'b4' ? 'later@example.net' : `${key}@example.net`], key), 1, `m${i + 1}`));
    // The retry is the last to start (one lane): the three delivered records are queued by then.
    const result = await processBatch(records, deps, { remainingTimeMs: () => 60_000, minRemainingMs: 20_000, concurrency: 1 });

    expect(result.batchItemFailures).toEqual([{ itemIdentifier: 'm4' }]);
    expect(events).toEqual(['write acme.example#b1=delivered,acme.example#b2=delivered,acme.example#b3=delivered,acme.example#b4=pending', 'delay m4']);

    // Delivered records with no retry among them: written when the batch ends, in one request.
    events.length = 0;
    deferred.clear();
    const second = ['c1', 'c2', 'c3'].map((key, i) => record(body([`${key}@example.net`], key), 1, `n${i + 1}`));
    expect((await processBatch(second, deps, { remainingTimeMs: () => 60_000, minRemainingMs: 20_000 })).batchItemFailures).toEqual([]);
    expect(events).toHaveLength(1);
    expect(events[0]!.split(',').sort()).toEqual(['acme.example#c2=delivered', 'acme.example#c3=delivered', 'write acme.example#c1=delivered']);
    expect(store.records.get('acme.example#c3')?.status).toBe('delivered');
  });

  it('issue 17: a batched settle that fails is logged per record (could not record delivery state) and the record stays acknowledged', async () => {
    const store = idempotency;
    deps = {
      ...deps,
      idempotency: {
        claim: (key, leaseMs, options) => store.claim(key, leaseMs, options),
        settle: (key, r) => store.settle(key, r),
        settleMany: async (entries) => entries.filter((e) => e.key.endsWith('#d2')).map((e) => ({ key: e.key, error: new Error('ProvisionedThroughputExceededException') })),
      },
    };
    const records = ['d1', 'd2'].map((key, i) => record(body([`${key}@example.net`], key), 1, `p${i + 1}`));
    expect((await processBatch(records, deps, { remainingTimeMs: () => 60_000, minRemainingMs: 20_000 })).batchItemFailures).toEqual([]);
    const errors = logs.filter((l) => l.message === 'could not record delivery state');
    expect(errors.map((l) => [l.level, l.extra['idempotencyKey'], l.extra['sqsMessageId']])).toEqual([['error', 'd2', 'p2']]);
    expect(String(errors[0]!.extra['detail'])).toContain('ProvisionedThroughputExceededException');
  });
});
