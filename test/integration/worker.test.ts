/**
 * The real Lambda handler (middy + Powertools) against dynalite, fauxqs, the local Secrets
 * Manager endpoint and smtp-server relays with STARTTLS + AUTH, driven with real SQS events by
 * the same poller `npm start` uses.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollOnce, type BatchHandler } from '../../lambda/adapters/sqsPoller.js';
import { startSmtpRelay, type SmtpRelay } from '../../local/smtpRelay.js';
import { loadRelayHandler } from '../helpers/relayHandler.js';
import { startLocalWorld, type LocalWorld } from '../helpers/localWorld.js';

const PASSWORD_1 = 'Pw-One-7b1e2f0c9d';
const PASSWORD_2 = 'Pw-Two-4a8c6e2b1f';

let world: LocalWorld;
let relay: SmtpRelay;
let handler: BatchHandler;
let captured = '';
const originalStdout = process.stdout.write.bind(process.stdout);
const originalStderr = process.stderr.write.bind(process.stderr);

const message = (over: Record<string, unknown> = {}) =>
  JSON.stringify({ from: 'Acme Billing <billing@acme.example>', to: ['bob@example.net'], subject: 'Your receipt', text: 'Thanks!', ...over });

async function poll() {
  return pollOnce(handler, { client: world.sqs, queueUrl: world.queues.queueUrl, queueArn: world.queues.queueArn, waitTimeSeconds: 1 });
}

beforeAll(async () => {
  const tee = (original: typeof process.stdout.write) =>
    ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      captured += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
      return (original as (c: unknown, ...r: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof process.stdout.write;
  process.stdout.write = tee(originalStdout);
  process.stderr.write = tee(originalStderr);

  relay = await startSmtpRelay({
    users: { 'billing@acme.example': PASSWORD_1 },
    onRcptTo: (address) => {
      if (address.startsWith('reject')) return { code: 550, message: '5.1.1 no such user' };
      if (address.startsWith('later')) return { code: 451, message: '4.3.0 try again later' };
      return undefined;
    },
  });
  world = await startLocalWorld({ secrets: { 'mailrelay/acme': JSON.stringify({ username: 'billing@acme.example', password: PASSWORD_1 }) } });
  await world.putConfig({
    scope: 'global',
    relay: { host: '127.0.0.1', port: relay.port, tls: 'starttls', timeoutSeconds: 10 },
    auth: { type: 'PLAIN', pass: { secret: 'mailrelay/acme' } },
    limits: { maxConnections: 3, maxMessagesPerConnection: 1000 },
  });
  handler = await loadRelayHandler();
});

afterAll(async () => {
  process.stdout.write = originalStdout;
  process.stderr.write = originalStderr;
  await relay?.stop();
  await world?.stop();
});

describe('relay handler on AWS-protocol emulators', () => {
  it('a batch of valid, poison, 550 and 451 gives exactly the right batchItemFailures and DLQ entries', async () => {
    // Prepare
    const ids = await world.enqueue([
      message({ idempotencyKey: 'mixed-valid', to: ['bob@example.net'] }),
      '{"from": "billing@acme.example", "to": "not-a-list", "subject": "x\\r\\nBcc: victim@example.org"}',
      message({ idempotencyKey: 'mixed-550', to: ['reject@example.net'] }),
      message({ idempotencyKey: 'mixed-451', to: ['later@example.net'] }),
    ]);

    // Act
    const result = await poll();

    // Assess
    expect(result).toEqual({ received: 4, deleted: 3, failed: 1 });
    expect(relay.messages.map((m) => m.rcptTo)).toEqual([['bob@example.net']]);
    const dlq = await world.drainDlq();
    const byId = new Map(dlq.map((m) => [m.MessageAttributes?.['mailrelay.sourceMessageId']?.StringValue, m]));
    expect(dlq).toHaveLength(2);
    const poison = byId.get(ids[1]!)!;
    expect(poison.Body).toBe('{"from": "billing@acme.example", "to": "not-a-list", "subject": "x\\r\\nBcc: victim@example.org"}');
    expect(poison.MessageAttributes?.['mailrelay.reason']?.StringValue).toBe('invalid-message');
    expect(poison.MessageAttributes?.['mailrelay.detail']?.StringValue).toMatch(/to: .*array/i);
    expect(poison.MessageAttributes?.['mailrelay.detail']?.StringValue).toMatch(/subject: .*CR/);
    const rejected = byId.get(ids[2]!)!;
    expect(rejected.MessageAttributes?.['mailrelay.reason']?.StringValue).toBe('unknown-recipient');
    expect(rejected.MessageAttributes?.['mailrelay.smtpCode']?.StringValue).toBe('550');
    expect(rejected.MessageAttributes?.['mailrelay.smtpReply']?.StringValue).toContain('no such user');
    expect(rejected.MessageAttributes?.['mailrelay.route']?.StringValue).toContain(`127.0.0.1:${relay.port} starttls PLAIN`);
    expect(JSON.parse(rejected.MessageAttributes?.['mailrelay.recipients']?.StringValue ?? '[]')).toEqual(['reject@example.net']);
    // The 451 is the only batch item failure, and its state says "pending" for the retry.
    const state = await world.documents.send(new GetCommand({ TableName: world.idempotencyTable, Key: { id: 'acme.example#mixed-451' } }));
    expect(state.Item).toMatchObject({ status: 'pending', delivered: [], failed: [] });
  });

  it('the same message sent twice is relayed once', async () => {
    const before = relay.messages.length;
    await world.enqueue([message({ idempotencyKey: 'dup-1', subject: 'dup' }), message({ idempotencyKey: 'dup-1', subject: 'dup' })]);
    let received = 0;
    for (let i = 0; i < 5 && received < 2; i++) received += (await poll()).received;
    expect(received).toBe(2);
    expect(relay.messages.slice(before)).toHaveLength(1);
    expect(relay.messages.at(-1)!.raw.toString()).toMatch(/Message-ID:\s+<[0-9a-f]+@acme\.example>/);
    // The copy in the same batch found the key claimed and is retried later, not sent.
    expect(captured).toContain('another invocation is delivering this message; will retry');

    // A copy re-sent after delivery is acknowledged without sending.
    await world.enqueue([message({ idempotencyKey: 'dup-1', subject: 'dup' })]);
    expect(await poll()).toMatchObject({ received: 1, deleted: 1, failed: 0 });
    expect(relay.messages.slice(before)).toHaveLength(1);
    expect(captured).toContain('duplicate: already delivered');
  });

  it('a rotated secret is picked up after a 535', async () => {
    // Prepare: the password rotates on the relay and in Secrets Manager, while the worker still
    // holds the old one in its secret cache. Restarting the relay drops the pooled sessions, so
    // the next delivery must authenticate afresh.
    world.secrets.setSecret('mailrelay/acme', JSON.stringify({ username: 'billing@acme.example', password: PASSWORD_2 }));
    const port = relay.port;
    await relay.stop();
    relay = await startSmtpRelay({ port, users: { 'billing@acme.example': PASSWORD_2 } });
    await world.enqueue([message({ idempotencyKey: 'rotated-1' })]);

    // Act
    const result = await poll();

    // Assess: one 535 with the cached password, one forced re-read, then delivered.
    expect(result).toMatchObject({ received: 1, deleted: 1, failed: 0 });
    expect(relay.messages).toHaveLength(1);
    expect(relay.authAttempts.map((a) => a.credentialsValid)).toEqual([false, true]);
  });

  it('100 messages to one route open no more connections than maxConnections', async () => {
    const before = relay.connectionCount;
    await world.enqueue(Array.from({ length: 100 }, (_, i) => message({ idempotencyKey: `bulk-${i}`, to: [`user${i}@example.net`] })));
    let delivered = 0;
    for (let i = 0; i < 40 && delivered < 100; i++) delivered += (await poll()).deleted;
    expect(delivered).toBe(100);
    expect(relay.connectionCount - before).toBeLessThanOrEqual(3);
  });

  it('no secret value appears anywhere in the captured log output', () => {
    expect(captured.length).toBeGreaterThan(1000);
    for (const secret of [PASSWORD_1, PASSWORD_2, Buffer.from(`\0billing@acme.example\0${PASSWORD_1}`).toString('base64')]) {
      expect(captured).not.toContain(secret);
    }
    // The log lines an operator reads carry the route, mechanism, SMTP code and outcome.
    expect(captured).toMatch(/"message":"relayed".*"mechanism":"PLAIN"/);
    expect(captured).toMatch(/"outcome":"failed".*"smtpCode":550|"smtpCode":550.*"outcome":"failed"/);
  });
});
