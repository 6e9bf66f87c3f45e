/**
 * A dead-lettered key is not taken back by a redrive of a DLQ entry that was redriven before
 * (docs/design.md §3), on both idempotency stores (in memory, and DynamoDB on dynalite), against a
 * real smtp-server relay: a second copy of a redrive, or an entry an interrupted `dlq redrive` left
 * behind, does not ask the relay again or leave another DLQ entry; every other entry can be
 * redriven, so nothing is lost. Most sequences here are reviewers', each of which broke an
 * earlier version of this rule (two of them lost the message).
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { DynamoIdempotencyStore } from '../../lambda/adapters/dynamoIdempotencyStore.js';
import { dlqAttributes } from '../../lambda/adapters/sqsDeadLetterQueue.js';
import type { DeadLetterReason, IdempotencyStore } from '../../lambda/core/ports.js';
import type { SmtpPool } from '../../lambda/core/smtp/pool.js';
import { processBatch } from '../../lambda/worker/processBatch.js';
import { exhausted, processRecord, type WorkerDependencies } from '../../lambda/worker/processRecord.js';
import type { QueueRecord } from '../../lambda/worker/types.js';
import { redriveAttributes } from '../../cli/commands/dlqRedrive.js';
import type { SmtpRelay } from '../../local/smtpRelay.js';
import { MemoryConfigStore, MemoryDeadLetterQueue, MemoryIdempotencyStore, MemorySecretSource } from '../helpers/memoryPorts.js';
import { idempotencyTable } from '../helpers/idempotencyTable.js';
import { relayFixtures } from '../helpers/relayFixtures.js';

type Entry = { body: string; reason: DeadLetterReason };

let relay: SmtpRelay;
let refused = new Set<string>();
let deferred = new Set<string>();
let dlq: MemoryDeadLetterQueue;
let pool: SmtpPool;
let n = 0;
const logs: string[] = [];
/** Every RCPT TO the relay was asked, in order. */
const asked: string[] = [];
const fixtures = relayFixtures();

const record = (body: string, receiveCount: number, messageId: string): QueueRecord => ({ messageId, receiptHandle: 'rh', body, attributes: { ApproximateReceiveCount: String(receiveCount) } });
/** `mailrelay dlq redrive`: the CLI's own attributes, from the entry as the CLI reads it back. */
const cliRedrive = (entry: Entry, messageId: string): QueueRecord => {
  const { reason } = entry;
  const letter = { id: `dlq-${messageId}`, receiptHandle: 'rh', body: entry.body, sentAt: undefined, reason: reason.reason, detail: reason.detail, smtpCode: reason.responseCode, smtpReply: reason.response, route: reason.route, recipients: reason.recipients, idempotencyKey: reason.idempotencyKey, sourceMessageId: reason.sourceMessageId, receiveCount: reason.receiveCount, failedAt: reason.failedAt };
  const attributes = Object.fromEntries(Object.entries(redriveAttributes(letter)).map(([name, value]) => [name, { stringValue: value.StringValue }]));
  return { ...record(entry.body, 1, messageId), messageAttributes: attributes };
};
/** SQS's own DLQ redrive: a new message with every attribute the worker wrote on the entry. */
const sqsRedrive = (entry: Entry, messageId: string): QueueRecord => ({
  ...record(entry.body, 1, messageId),
  messageAttributes: Object.fromEntries(Object.entries(dlqAttributes(entry.reason)).map(([name, value]) => [name, { stringValue: value.StringValue }])),
});
const body = (to: string[], key: string) => JSON.stringify({ idempotencyKey: key, from: 'billing@acme.example', to, subject: 's', text: 't' });
const mailFroms = () => relay.commands.filter((c) => c === 'MAIL').length;

/** The message (SQS id sqs-a) meets bad@ refused and is dead-lettered: DLQ entry E1, where every sequence starts. */
async function deadLetteredFirst(d: WorkerDependencies, key: string, to: string[] = ['bad@example.net']): Promise<void> {
  refused.add('bad@example.net');
  expect(await processRecord(record(body(to, key), 1, 'sqs-a'), d)).toBe('dead-lettered');
}

const table = idempotencyTable();
beforeEach(async () => {
  refused = new Set();
  deferred = new Set();
  dlq = new MemoryDeadLetterQueue();
  logs.length = 0;
  asked.length = 0;
  relay = await fixtures.relay({
    users: { u: 'p' },
    onRcptTo: (a) => (asked.push(a), refused.has(a) ? { code: 550, message: '5.1.1 unknown' } : deferred.has(a) ? { code: 451, message: '4.2.0 later' } : undefined),
  });
  pool = fixtures.pool();
});

let config: MemoryConfigStore;
const deps = (idempotency: IdempotencyStore): WorkerDependencies => ({
  config: (config = new MemoryConfigStore({ global: { scope: 'global', relay: { host: '127.0.0.1', port: relay.port, timeoutSeconds: 5 }, auth: { user: 'u', pass: { value: 'p' } } } })),
  secrets: new MemorySecretSource(),
  pool,
  idempotency,
  deadLetters: dlq,
  logger: { debug: () => undefined, info: (message) => logs.push(message), warn: () => undefined, error: () => undefined },
  metrics: { addMetric: () => undefined },
  maxReceiveCount: 5,
  claimLeaseMs: 60_000,
});

const PRODUCER = 'AROAPRODUCER';
const OPERATOR = 'AROAOPERATOR:cli';
const from = (r: QueueRecord, sender: string): QueueRecord => ({ ...r, attributes: { ...r.attributes, SenderId: sender } });
const onLastReceive = (r: QueueRecord): QueueRecord => ({ ...r, attributes: { ...r.attributes, ApproximateReceiveCount: '5' } });

/** A store whose next claim throws (DynamoDB throttled), before reaching the table. */
const flaky = (inner: IdempotencyStore) => {
  let fail = false;
  const store: IdempotencyStore = {
    claim: (k, l, o) => (fail ? ((fail = false), Promise.reject(Object.assign(new Error('throttled'), { name: 'ProvisionedThroughputExceededException' }))) : inner.claim(k, l, o)),
    settle: (k, r) => inner.settle(k, r),
    ...(inner.settleMany ? { settleMany: (e: Parameters<NonNullable<IdempotencyStore['settleMany']>>[0]) => inner.settleMany!(e) } : {}),
  };
  return { store, failNextClaim: () => (fail = true) };
};

const STORES = [
  ['in memory', () => new MemoryIdempotencyStore() as IdempotencyStore],
  ['on DynamoDB', () => new DynamoIdempotencyStore({ client: table.client(), tableName: 'idem' }) as IdempotencyStore],
] as const;

describe.each(STORES)('redrives %s', (_name, store) => {
  it('the original comes back while its redrive is deferred and is dead-lettered again: the newer entry can still be redriven (nothing lost)', async () => {
    const d = deps(store());
    const key = `k-loss-${n++}`;
    await deadLetteredFirst(d, key);
    // The operator redrives E1; the relay defers it: the key is pending.
    refused.clear();
    deferred.add('bad@example.net');
    const redrive = cliRedrive(dlq.entries[0]!, 'sqs-r');
    expect(await processRecord(redrive, d)).toBe('retry');
    // The original itself comes back (SQS redelivered it) and is refused again: E2, same source id.
    deferred.clear();
    refused.add('bad@example.net');
    expect(await processRecord(record(body(['bad@example.net'], key), 2, 'sqs-a'), d)).toBe('dead-lettered');
    expect(dlq.entries.map((e) => e.reason.sourceMessageId)).toEqual(['sqs-a', 'sqs-a']);
    // The redrive's next receive: E2 holds the message now, so this one is a duplicate.
    expect(await processRecord({ ...redrive, attributes: { ApproximateReceiveCount: '2' } }, d)).toBe('duplicate');
    expect(logs).toContain('duplicate: this DLQ entry was redriven before (a second copy of its redrive, or an entry an interrupted redrive left behind)');
    // The mailbox is fixed and E2 is redriven: delivered.
    refused.clear();
    const before = relay.messages.length;
    expect(await processRecord(cliRedrive(dlq.entries[1]!, 'sqs-r2'), d)).toBe('delivered');
    expect(relay.messages.length - before).toBe(1);
  });

  it('an entry an interrupted dlq redrive left behind is not taken back after another entry of the key was redriven', async () => {
    const d = deps(store());
    const key = `k-dup-${n++}`;
    await deadLetteredFirst(d, key);
    const e1 = dlq.entries[0]!;
    // R1 is sent, E1 stays in the DLQ (the CLI crashed before deleting it). R1 fails again: E2.
    expect(await processRecord(cliRedrive(e1, 'sqs-r1'), d)).toBe('dead-lettered');
    // The next `dlq redrive` sends E2 and E1, in SQS's order: E2's redrive fails again (E3)...
    expect(await processRecord(cliRedrive(dlq.entries[1]!, 'sqs-r2'), d)).toBe('dead-lettered');
    const before = mailFroms();
    // ...then E1's: the relay is not asked again and no fourth entry is written.
    expect(await processRecord(cliRedrive(e1, 'sqs-r3'), d)).toBe('duplicate');
    expect(mailFroms()).toBe(before);
    expect(dlq.entries).toHaveLength(3);
  });

  it('a second copy of a redrive that failed again (SQS delivered it twice) is a duplicate; the new entry is redriven', async () => {
    const d = deps(store());
    const key = `k-copy-${n++}`;
    await deadLetteredFirst(d, key, ['ok@example.net', 'bad@example.net']);
    const redrive = cliRedrive(dlq.entries[0]!, 'sqs-r');
    expect(await processRecord(redrive, d)).toBe('dead-lettered');
    const before = mailFroms();
    expect(await processRecord(redrive, d)).toBe('duplicate');
    expect(mailFroms()).toBe(before);
    expect(dlq.entries).toHaveLength(2);
    refused.clear();
    expect(await processRecord(cliRedrive(dlq.entries[1]!, 'sqs-r2'), d)).toBe('delivered');
    // ok@ was accepted the first time and is never sent again.
    expect(relay.messages.map((m) => m.rcptTo)).toEqual([['ok@example.net'], ['bad@example.net']]);
  });

  it("SQS's own DLQ redrive (every attribute kept) follows the same rule", async () => {
    const d = deps(store());
    const key = `k-sqs-${n++}`;
    await deadLetteredFirst(d, key);
    const e1 = dlq.entries[0]!;
    expect(await processRecord(sqsRedrive(e1, 'sqs-m1'), d)).toBe('dead-lettered');
    const before = mailFroms();
    expect(await processRecord(sqsRedrive(e1, 'sqs-m2'), d)).toBe('duplicate');
    expect(mailFroms()).toBe(before);
    refused.clear();
    expect(await processRecord(sqsRedrive(dlq.entries[1]!, 'sqs-m3'), d)).toBe('delivered');
  });

  it('a redrive that names no entry (sent by an older CLI) takes a dead-lettered key back as before', async () => {
    const d = deps(store());
    const key = `k-old-${n++}`;
    await deadLetteredFirst(d, key);
    refused.clear();
    const old = { ...record(dlq.entries[0]!.body, 1, 'sqs-old'), messageAttributes: { 'mailrelay.idempotencyKey': { stringValue: key } } };
    expect(await processRecord(old, d)).toBe('delivered');
  });
});

describe.each(STORES)('a redrive dead-lettered before it claimed the key leaves an entry that can be redriven, %s', (_name, store) => {
  /** X is refused (E1); a redrive of E1 is dead-lettered on `path` before claiming (E2); E2, redriven, is delivered. */
  async function sequence(d: WorkerDependencies, key: string, path: (redrive: QueueRecord) => Promise<unknown>, fix: () => void = () => undefined): Promise<void> {
    refused.add('bad@example.net');
    expect(await processRecord(from(record(body(['bad@example.net'], key), 1, 'sqs-a'), PRODUCER), d)).toBe('dead-lettered');
    refused.clear();
    expect(await path(from(cliRedrive(dlq.entries[0]!, 'sqs-r1'), OPERATOR))).toBe('dead-lettered');
    expect(dlq.entries).toHaveLength(2);
    fix();
    const before = relay.messages.length;
    expect(await processRecord(from(cliRedrive(dlq.entries[1]!, 'sqs-r2'), OPERATOR), d)).toBe('delivered');
    expect(relay.messages.length - before).toBe(1);
  }

  it('refused as producer-not-allowed (docs/producers.md: the operator then admits its role and redrives)', async () => {
    const d = deps(store());
    config.put({ scope: 'binding#acme.example', producers: [PRODUCER] });
    await sequence(d, `k-prod-${n++}`, (r) => processRecord(r, d), () => config.put({ scope: 'binding#acme.example', producers: [PRODUCER, 'AROAOPERATOR'] }));
    expect(dlq.entries[1]!.reason.reason).toBe('producer-not-allowed');
  });

  it('refused as invalid-config (a broken binding item), then the item is fixed', async () => {
    const d = deps(store());
    await sequence(
      d,
      `k-cfg-${n++}`,
      (r) => {
        config.put({ scope: 'binding#acme.example', producers: 'not-a-list' });
        return processRecord(r, d);
      },
      () => config.put({ scope: 'binding#acme.example' }),
    );
    expect(dlq.entries[1]!.reason.reason).toBe('invalid-config');
  });

  it('the claim fails on its last receive (retries-exhausted:aws-error)', async () => {
    const f = flaky(store());
    const d = deps(f.store);
    await sequence(d, `k-exh-${n++}`, (r) => {
      f.failNextClaim();
      return processRecord(onLastReceive(r), d);
    });
    expect(dlq.entries[1]!.reason.reason).toBe('retries-exhausted:aws-error');
  });

  it('out of time on its last receive (processBatch dead-letters it as exhausted)', async () => {
    const d = deps(store());
    await sequence(d, `k-time-${n++}`, (r) => exhausted(onLastReceive(r), d, undefined, 'out-of-time', 'the invocation ran out of time'));
  });
});

describe.each(STORES)('a redrive that takes the key from an invocation that died holding it, %s', (_name, make) => {
  it('gives the refused recipient its chance again', async () => {
    const s = make();
    const d = deps(s);
    const key = `k-lapse-${n++}`;
    await deadLetteredFirst(d, key);
    refused.clear();
    const r1 = cliRedrive(dlq.entries[0]!, 'sqs-r1');
    // R1's first receive claims the key and its invocation dies (a 1 ms lease, lapsed at once).
    expect((await s.claim(`acme.example#${key}`, 1, { redrive: true, redriveOf: r1.messageAttributes!['mailrelay.deadLetterId']!.stringValue })).outcome).toBe('claimed');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await processRecord({ ...r1, attributes: { ApproximateReceiveCount: '2' } }, d)).toBe('delivered');
    expect(relay.messages.map((m) => m.rcptTo)).toEqual([['bad@example.net']]);
  });
});

describe('through processBatch, whose settles are one BatchWriteItem put per key (DynamoDB)', () => {
  it('the put keeps the redriven entries: an entry an interrupted dlq redrive left behind is still a duplicate', async () => {
    const d = deps(new DynamoIdempotencyStore({ client: table.client(), tableName: 'idem' }));
    const batch = async (r: QueueRecord) => {
      const before = dlq.entries.length;
      const { batchItemFailures } = await processBatch([r], d, { remainingTimeMs: () => 60_000, minRemainingMs: 1_000 });
      return batchItemFailures.length ? 'retry' : dlq.entries.length > before ? 'dead-lettered' : 'acknowledged';
    };
    const key = `k-batch-${n++}`;
    refused.add('bad@example.net');
    expect(await batch(record(body(['bad@example.net'], key), 1, 'sqs-a'))).toBe('dead-lettered');
    const e1 = dlq.entries[0]!;
    expect(await batch(cliRedrive(e1, 'sqs-r1'))).toBe('dead-lettered');
    const before = mailFroms();
    expect(await batch(cliRedrive(e1, 'sqs-r1-left-behind'))).toBe('acknowledged');
    expect(mailFroms()).toBe(before);
    expect(logs).toContain('duplicate: this DLQ entry was redriven before (a second copy of its redrive, or an entry an interrupted redrive left behind)');
  });
});

const receive = (r: QueueRecord, count: number): QueueRecord => ({ ...r, attributes: { ...r.attributes, ApproximateReceiveCount: String(count) } });

describe.each(STORES)('refusals within a redrive (third review), %s', (_name, make) => {
  /** The message to bad@ and slow@ is dead-lettered; its redrive R1 finds bad@ refused again and slow@ deferred. */
  async function redriveRound(s: IdempotencyStore, key: string) {
    const d = deps(s);
    refused.add('bad@example.net');
    refused.add('slow@example.net');
    expect(await processRecord(record(body(['bad@example.net', 'slow@example.net'], key), 1, 'sqs-a'), d)).toBe('dead-lettered');
    refused.delete('slow@example.net');
    deferred.add('slow@example.net');
    const r1 = cliRedrive(dlq.entries[0]!, 'sqs-r1');
    asked.length = 0;
    expect(await processRecord(r1, d)).toBe('retry');
    expect(asked.filter((a) => a === 'bad@example.net')).toHaveLength(1);
    return { d, r1 };
  }

  it('a recipient refused in the redrive is not asked again on its next receive', async () => {
    const { d, r1 } = await redriveRound(make(), `k-round-${n++}`);
    await processRecord(receive(r1, 2), d);
    expect(asked.filter((a) => a === 'bad@example.net')).toHaveLength(1);
  });

  it('nor after one of its invocations died holding the key', async () => {
    const s = make();
    const key = `k-round-died-${n++}`;
    const { d, r1 } = await redriveRound(s, key);
    // R1's receive 2 claims the key and dies (a 1 ms lease, lapsed at once).
    expect((await s.claim(`acme.example#${key}`, 1, { redrive: true, redriveOf: r1.messageAttributes!['mailrelay.deadLetterId']!.stringValue })).outcome).toBe('claimed');
    await new Promise((resolve) => setTimeout(resolve, 20));
    await processRecord(receive(r1, 3), d);
    expect(asked.filter((a) => a === 'bad@example.net')).toHaveLength(1);
  });

  it('a DLQ entry written after a lapsed claim still carries the recorded refusal (both stores keep it)', async () => {
    const s = make();
    const d = deps(s);
    const key = `k-lapsed-failure-${n++}`;
    refused.add('bad@example.net');
    deferred.add('slow@example.net');
    const m = record(body(['bad@example.net', 'slow@example.net'], key), 1, 'sqs-a');
    expect(await processRecord(m, d)).toBe('retry');
    expect((await s.claim(`acme.example#${key}`, 1)).outcome).toBe('claimed');
    await new Promise((resolve) => setTimeout(resolve, 20));
    deferred.clear();
    expect(await processRecord(receive(m, 3), d)).toBe('dead-lettered');
    expect(dlq.entries[0]!.reason).toMatchObject({ recipients: ['bad@example.net'], responseCode: 550 });
  });
});
