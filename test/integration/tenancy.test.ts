/**
 * Producers are tenants (issue 14), end to end: the real Lambda handler against dynalite, fauxqs,
 * the local Secrets Manager endpoint and smtp-server relays with STARTTLS + AUTH. Records are
 * handed over as Lambda's event source would, each with its producer's `SenderId` (fauxqs
 * reports every sender as one account, so the producers are set on the records here).
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { SQSRecord } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSmtpRelay, type SmtpRelay } from '../../local/smtpRelay.js';
import { loadRelayHandler } from '../helpers/relayHandler.js';
import { startLocalWorld, type LocalWorld } from '../helpers/localWorld.js';

const ACME_PRODUCER = 'AROAACMEPRODUCER00001';
const GLOBEX_PRODUCER = 'AROAGLOBEXPRODUCER001';
const TENANT_PASSWORD = 'Tenant-Pw-6c1d9e2a';
const SHARED_PASSWORD = 'Shared-Pw-0f3b8a71';

let world: LocalWorld;
let relay: SmtpRelay;
let partnerRelay: SmtpRelay;
let invoke: (records: SQSRecord[]) => Promise<{ batchItemFailures: { itemIdentifier: string }[] }>;
let sequence = 0;

function record(producer: string | undefined, body: Record<string, unknown>, attributes: Record<string, string> = {}): SQSRecord {
  sequence += 1;
  return {
    messageId: `sqs-${sequence}`,
    receiptHandle: `rh-${sequence}`,
    body: JSON.stringify(body),
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: String(Date.now()),
      ...(producer === undefined ? {} : { SenderId: producer }),
      ApproximateFirstReceiveTimestamp: String(Date.now()),
    } as SQSRecord['attributes'],
    messageAttributes: Object.fromEntries(Object.entries(attributes).map(([name, value]) => [name, { dataType: 'String', stringValue: value }])),
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: world.queues.queueArn,
    awsRegion: 'us-east-1',
  };
}

const mail = (over: Record<string, unknown>) => ({ from: 'billing@acme.example', to: ['bob@example.net'], subject: 'Receipt', text: 'Thanks', ...over });

beforeAll(async () => {
  relay = await startSmtpRelay({ users: { 'shared-user': SHARED_PASSWORD, 'acme-user': TENANT_PASSWORD } });
  partnerRelay = await startSmtpRelay({ tls: 'none', users: { 'acme-user': TENANT_PASSWORD } });
  world = await startLocalWorld({
    secrets: {
      'mailrelay/shared': JSON.stringify({ username: 'shared-user', password: SHARED_PASSWORD }),
      'mailrelay/acme/relay': JSON.stringify({ username: 'acme-user', password: TENANT_PASSWORD }),
    },
  });
  await world.putConfig({
    scope: 'global',
    relay: { host: '127.0.0.1', port: relay.port, timeoutSeconds: 10 },
    auth: { type: 'PLAIN', pass: { secret: 'mailrelay/shared' }, messageKeysources: ['mailrelay/acme/'] },
  });
  await world.putConfig({ scope: 'binding#acme.example', producers: [ACME_PRODUCER] });
  await world.putConfig({ scope: 'binding#globex', producers: [GLOBEX_PRODUCER] });
  await world.putConfig({ scope: 'domain#partner.example', relay: { host: '127.0.0.1', port: partnerRelay.port, tls: 'none', allowInsecureAuth: true, timeoutSeconds: 10 } });

  const relayHandler = await loadRelayHandler();
  invoke = (records) => relayHandler({ Records: records }, { getRemainingTimeInMillis: () => 60_000 });
});

afterAll(async () => {
  await relay?.stop();
  await partnerRelay?.stop();
  await world?.stop();
});

beforeEach(async () => {
  relay.clear();
  partnerRelay.clear();
  world.secrets.requests.length = 0;
  await world.drainDlq();
});

describe('producers', () => {
  it('a message naming a binding from another producer is dead-lettered as producer-not-allowed, before any secret is read or relay contacted', async () => {
    // Act: globex's producer sends as acme.example (the default binding of billing@acme.example), and with no SenderId
    const result = await invoke([record(GLOBEX_PRODUCER, mail({ idempotencyKey: 'steal-1' })), record(undefined, mail({ idempotencyKey: 'steal-2' }))]);

    // Assess
    expect(result.batchItemFailures).toEqual([]);
    const dlq = await world.drainDlq();
    expect(dlq.map((m) => m.MessageAttributes?.['mailrelay.reason']?.StringValue)).toEqual(['producer-not-allowed', 'producer-not-allowed']);
    expect(dlq.map((m) => m.MessageAttributes?.['mailrelay.detail']?.StringValue).join('\n')).toContain(`producer ${GLOBEX_PRODUCER} may not send for binding acme.example`);
    expect(world.secrets.requests).toEqual([]);
    expect(relay.connectionCount + partnerRelay.connectionCount).toBe(0);
    // Nothing was claimed: the rightful producer's message with the same key is not a duplicate.
    const claimed = await world.documents.send(new GetCommand({ TableName: world.idempotencyTable, Key: { id: 'acme.example#steal-1' } }));
    expect(claimed.Item).toBeUndefined();
  });

  it('the binding’s own producer (any session of its role) is relayed', async () => {
    // Act
    const result = await invoke([record(`${ACME_PRODUCER}:i-0123456789abcdef0`, mail({ idempotencyKey: 'steal-1' }))]);

    // Assess
    expect(result.batchItemFailures).toEqual([]);
    expect(relay.messages.map((m) => [m.user, m.rcptTo])).toEqual([['shared-user', ['bob@example.net']]]);
    expect(await world.drainDlq()).toEqual([]);
  });
});

describe('idempotency per binding', () => {
  it('someone else’s idempotency key was acknowledged as duplicate and dropped: the same key under two bindings names two messages', async () => {
    // Prepare: acme delivers its order-7
    await invoke([record(ACME_PRODUCER, mail({ idempotencyKey: 'order-7' }))]);

    // Act: globex sends its own order-7, once in the body and once only through the redrive attribute
    await invoke([record(GLOBEX_PRODUCER, mail({ idempotencyKey: 'order-7', binding: 'globex', to: ['carol@example.net'] }))]);
    await invoke([record(GLOBEX_PRODUCER, mail({ binding: 'globex', to: ['dave@example.net'] }), { 'mailrelay.idempotencyKey': 'order-8' })]);
    await invoke([record(ACME_PRODUCER, mail({ to: ['erin@example.net'] }), { 'mailrelay.idempotencyKey': 'order-8' })]);

    // Assess: four messages relayed, none acknowledged as a duplicate of another binding's
    expect(relay.messages.map((m) => m.rcptTo[0])).toEqual(['bob@example.net', 'carol@example.net', 'dave@example.net', 'erin@example.net']);
    const ids = ['acme.example#order-7', 'globex#order-7', 'globex#order-8', 'acme.example#order-8'];
    for (const id of ids) {
      const item = await world.documents.send(new GetCommand({ TableName: world.idempotencyTable, Key: { id } }));
      expect(item.Item?.['status'], id).toBe('delivered');
    }
    // A true duplicate within one binding is still dropped.
    await invoke([record(GLOBEX_PRODUCER, mail({ idempotencyKey: 'order-7', binding: 'globex', to: ['carol@example.net'] }))]);
    expect(relay.messages).toHaveLength(4);
  });
});

describe('auth.messageKeysources', () => {
  it('another tenant’s password arrived in clear at a partner relay: the partner route refuses the message’s auth.pass, the tenant route uses it', async () => {
    // Act
    const result = await invoke([
      record(ACME_PRODUCER, mail({ idempotencyKey: 'mk-1', to: ['bob@example.net', 'alice@partner.example'], auth: { pass: { secret: 'mailrelay/acme/relay' } } })),
    ]);

    // Assess
    expect(result.batchItemFailures).toEqual([]);
    expect(relay.messages.map((m) => [m.user, m.rcptTo])).toEqual([['acme-user', ['bob@example.net']]]);
    expect(partnerRelay.connectionCount).toBe(0);
    const [entry] = await world.drainDlq();
    expect(entry?.MessageAttributes?.['mailrelay.reason']?.StringValue).toBe('invalid-config');
    expect(entry?.MessageAttributes?.['mailrelay.detail']?.StringValue).toContain('auth.pass: the message names secret:mailrelay/acme/relay');
    expect(JSON.parse(entry?.MessageAttributes?.['mailrelay.recipients']?.StringValue ?? '[]')).toEqual(['alice@partner.example']);
  });

  it('a message naming a secret outside every route’s messageKeysources is refused before the secret is read', async () => {
    // Act
    await invoke([record(ACME_PRODUCER, mail({ idempotencyKey: 'mk-2', auth: { pass: { secret: 'mailrelay/shared' } } }))]);

    // Assess
    expect(world.secrets.requests.filter((r) => r.name === 'mailrelay/shared')).toEqual([]);
    expect(relay.connectionCount).toBe(0);
    const [entry] = await world.drainDlq();
    expect(entry?.MessageAttributes?.['mailrelay.detail']?.StringValue).toContain('auth.pass');
  });
});
