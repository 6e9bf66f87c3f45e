/**
 * Delivery events (docs/design.md §3): processBatch with a real smtp-server relay on 127.0.0.1
 * (STARTTLS + AUTH, scripted RCPT replies) and the real EventBridge adapter on the real
 * @aws-sdk/client-eventbridge, pointed at the local PutEvents stand-in (local/eventsEndpoint.ts).
 * Each recipient fate becomes one event with source "mailrelay" and a detail-type per status; a
 * failed publish is retried once, then logged and counted, and never changes a message's fate.
 */
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EventBridgePublisher } from '../../lambda/adapters/eventBridgePublisher.js';
import { EVENT_DETAIL_TYPE } from '../../lambda/core/names.js';
import { SmtpPool } from '../../lambda/core/smtp/pool.js';
import { processBatch } from '../../lambda/worker/processBatch.js';
import type { WorkerDependencies } from '../../lambda/worker/processRecord.js';
import type { QueueRecord } from '../../lambda/worker/types.js';
import { localAwsClientConfig } from '../../local/awsClientConfig.js';
import { testCerts } from '../../local/certs.js';
import { startEventsEndpoint, type CapturedEvent, type EventsEndpoint } from '../../local/eventsEndpoint.js';
import { startSmtpRelay, type SmtpRelay } from '../../local/smtpRelay.js';
import { MemoryConfigStore, MemoryDeadLetterQueue, MemoryIdempotencyStore, MemorySecretSource } from '../helpers/memoryPorts.js';

const BUS = 'mailrelay-events';
let relay: SmtpRelay;
let bus: EventsEndpoint;
let client: EventBridgeClient;
let pool: SmtpPool;
let deps: WorkerDependencies;
let dlq: MemoryDeadLetterQueue;
const logs: { level: string; message: string; extra: Record<string, unknown> }[] = [];
const metrics: string[] = [];
const NOW = Date.now();

const record = (body: object, options: { receiveCount?: number; messageId?: string; sentAt?: number } = {}): QueueRecord => ({
  messageId: options.messageId ?? `sqs-${Math.random().toString(36).slice(2)}`,
  receiptHandle: 'rh',
  body: JSON.stringify(body),
  attributes: { ApproximateReceiveCount: String(options.receiveCount ?? 1), SentTimestamp: String(options.sentAt ?? NOW - 5_000) },
});
const message = (key: string, to: string[]) => ({ idempotencyKey: key, from: 'billing@acme.example', to, subject: 's', text: 't', tags: { campaign: 'march' } });
const batch = (records: QueueRecord[]) => processBatch(records, deps, { remainingTimeMs: () => 60_000, minRemainingMs: 1_000 });
const eventsOf = (status: keyof typeof EVENT_DETAIL_TYPE): CapturedEvent[] => bus.events.filter((e) => e['detail-type'] === EVENT_DETAIL_TYPE[status]);

beforeAll(async () => {
  relay = await startSmtpRelay({
    users: { u: 'p' },
    onRcptTo: (address) => (address.startsWith('bounce') ? { code: 550, message: '5.1.1 no such user' } : address.startsWith('later') ? { code: 451, message: '4.2.0 try later' } : undefined),
  });
  bus = await startEventsEndpoint({ buses: [BUS] });
  client = new EventBridgeClient({ ...localAwsClientConfig(bus.url), maxAttempts: 1 });
  pool = new SmtpPool({ ca: testCerts.ca });
});
afterAll(async () => {
  pool.closeIdle();
  client.destroy();
  await Promise.all([relay.stop(), bus.stop()]);
});
beforeEach(() => {
  relay.clear();
  bus.clear();
  logs.length = 0;
  metrics.length = 0;
  dlq = new MemoryDeadLetterQueue();
  const log = (level: string) => (msg: string, ...extra: Record<string, unknown>[]) => logs.push({ level, message: msg, extra: Object.assign({}, ...extra) });
  deps = {
    config: new MemoryConfigStore({
      global: { scope: 'global', relay: { host: '127.0.0.1', port: relay.port, timeoutSeconds: 5 }, auth: { user: 'u', pass: { value: 'p' }, key: 'acme-lookup' }, delivery: { maxAgeSeconds: 600 } },
    }),
    secrets: new MemorySecretSource(),
    pool,
    idempotency: new MemoryIdempotencyStore(),
    deadLetters: dlq,
    logger: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
    metrics: { addMetric: (name) => metrics.push(name) },
    maxReceiveCount: 5,
    claimLeaseMs: 60_000,
    events: new EventBridgePublisher({ client, eventBusName: BUS }),
  };
});

describe('delivery events on the bus', () => {
  it('one event per recipient fate, each status its own detail-type, with the message, recipient, route and SMTP reply', async () => {
    // Prepare: one record per fate
    const records = [
      record(message('k-delivered', ['bob@example.net']), { messageId: 'sqs-delivered' }),
      record(message('k-deferred', ['later@example.net'])),
      record(message('k-bounced', ['bounce@example.net'])),
      record(message('k-dead', ['later@example.org']), { receiveCount: 5 }), // deferred on the last receive
      record(message('k-expired', ['later@example.com']), { sentAt: NOW - 700_000 }), // older than maxAgeSeconds 600
    ];

    // Act
    const first = await batch(records);
    const again = await batch([record(message('k-delivered', ['bob@example.net']), { messageId: 'sqs-copy', receiveCount: 1 })]);

    // Assess: the fates are what they would be without events
    expect(first.batchItemFailures.map((f) => f.itemIdentifier)).toEqual([records[1]!.messageId]);
    expect(again.batchItemFailures).toEqual([]);
    expect(dlq.entries.map((e) => e.reason.reason).sort()).toEqual(['expired', 'retries-exhausted:smtp-transient', 'unknown-recipient']);

    expect(bus.events.every((e) => e.source === 'mailrelay' && e.eventBusName === BUS)).toBe(true);
    expect(bus.events.map((e) => e['detail-type']).sort()).toEqual(
      ['Recipient Bounced', 'Recipient Dead-Lettered', 'Recipient Deferred', 'Recipient Delivered', 'Recipient Duplicate', 'Recipient Expired'],
    );
    const [delivered] = eventsOf('delivered');
    expect(delivered!.detail).toEqual({
      version: 1,
      status: 'delivered',
      idempotencyKey: 'k-delivered',
      messageId: expect.stringMatching(/^<.+@acme\.example>$/),
      binding: 'acme.example',
      tags: { campaign: 'march' },
      recipient: 'bob@example.net',
      route: `127.0.0.1:${relay.port} starttls PLAIN user=u`,
      mechanism: 'PLAIN',
      authKey: 'acme-lookup',
      attempt: 1,
      smtpCode: 250,
      smtpReply: expect.stringMatching(/^250 /),
      sqsMessageId: 'sqs-delivered',
      queuedAt: new Date(NOW - 5_000).toISOString(),
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect(Date.parse(delivered!.time)).toBeGreaterThan(0);
    expect(eventsOf('deferred')[0]!.detail).toMatchObject({ recipient: 'later@example.net', smtpCode: 451, smtpReply: expect.stringContaining('4.2.0 try later'), reason: 'smtp-transient', attempt: 1 });
    expect(eventsOf('bounced')[0]!.detail).toMatchObject({ recipient: 'bounce@example.net', smtpCode: 550, smtpReply: expect.stringContaining('5.1.1 no such user'), reason: 'unknown-recipient' });
    expect(eventsOf('dead-lettered')[0]!.detail).toMatchObject({ idempotencyKey: 'k-dead', recipient: 'later@example.org', attempt: 5, smtpCode: 451 });
    expect(eventsOf('expired')[0]!.detail).toMatchObject({ idempotencyKey: 'k-expired', recipient: 'later@example.com', smtpCode: 451, queuedAt: new Date(NOW - 700_000).toISOString() });
    expect(eventsOf('duplicate')[0]!.detail).toMatchObject({ idempotencyKey: 'k-delivered', recipient: 'bob@example.net', sqsMessageId: 'sqs-copy', reason: 'delivered' });
    // One PutEvents call per batch here (5 events, then 1): never more than 10 entries per call.
    expect(bus.calls.map((c) => c.entries)).toEqual([5, 1]);
    expect(metrics.filter((m) => m === 'EventsPublished')).toHaveLength(2);
  });

  it('a batch with more than 10 fates is published 10 entries per call', async () => {
    const to = Array.from({ length: 23 }, (_, i) => `r${i}@example.net`);

    await batch([record(message('k-many', to))]);

    expect(bus.calls.map((c) => c.entries).sort((a, b) => b - a)).toEqual([10, 10, 3]);
    expect(eventsOf('delivered').map((e) => e.detail['recipient']).sort()).toEqual([...to].sort());
  });

  it('a record dead-lettered on its last receive for lack of time still has each recipient’s event', async () => {
    const result = await processBatch([record(message('k-late', ['a@example.net', 'b@example.net']), { receiveCount: 5 })], deps, { remainingTimeMs: () => 10, minRemainingMs: 1_000 });

    expect(result.batchItemFailures).toEqual([]);
    expect(relay.messages).toHaveLength(0);
    expect(eventsOf('dead-lettered').map((e) => [e.detail['recipient'], e.detail['reason']])).toEqual([
      ['a@example.net', 'retries-exhausted:out-of-time'],
      ['b@example.net', 'retries-exhausted:out-of-time'],
    ]);
  });

  it('a publish that fails once is retried and lands; one that keeps failing is logged and counted, and the fates stand', async () => {
    // Throttled once: the retry publishes.
    bus.failNext({ type: 'ThrottlingException' });
    await batch([record(message('k-retry', ['bob@example.net']))]);
    expect(eventsOf('delivered').map((e) => e.detail['idempotencyKey'])).toEqual(['k-retry']);
    expect(bus.calls.map((c) => c.failedWith)).toEqual(['ThrottlingException', undefined]);

    // Every entry refused, twice: given up on, logged with the event, counted.
    bus.clear();
    bus.failNext({ type: 'InternalFailure', scope: 'entries', times: 2 });
    const result = await batch([record(message('k-lost', ['bob@example.net', 'bounce@example.net']))]);

    expect(bus.events).toEqual([]);
    expect(result.batchItemFailures).toEqual([]); // the message was dead-lettered for its bounce, as without events
    expect(dlq.entries.map((e) => e.reason.idempotencyKey)).toEqual(['k-lost']);
    expect(relay.messages.filter((m) => m.rcptTo.includes('bob@example.net'))).toHaveLength(2);
    expect(metrics.filter((m) => m === 'EventPublishFailed')).toHaveLength(1);
    const lost = logs.filter((l) => l.message === 'delivery event not published');
    expect(lost.map((l) => [l.level, l.extra['detailType'], (l.extra['event'] as { recipient: string }).recipient, l.extra['error']])).toEqual([
      ['error', 'Recipient Delivered', 'bob@example.net', 'InternalFailure: Injected InternalFailure'],
      ['error', 'Recipient Bounced', 'bounce@example.net', 'InternalFailure: Injected InternalFailure'],
    ]);
  });

  it('a bus that does not exist loses the events, never the mail', async () => {
    deps = { ...deps, events: new EventBridgePublisher({ client, eventBusName: 'no-such-bus' }) };

    const result = await batch([record(message('k-nobus', ['bob@example.net']))]);

    expect(result.batchItemFailures).toEqual([]);
    expect(relay.messages).toHaveLength(1);
    expect(logs.find((l) => l.message === 'delivery event not published')?.extra['error']).toMatch(/ResourceNotFoundException: Event bus no-such-bus does not exist/);
  });
});
