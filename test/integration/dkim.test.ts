/**
 * DKIM (docs/design.md §2 `dkim`): messages relayed by the worker to a real smtp-server on
 * 127.0.0.1 (STARTTLS + AUTH) carry a signature that an independent verifier (mailauth) accepts
 * against the TXT record `mailrelay dkim dns` derives; one changed body byte breaks it; a key
 * that cannot be read or parsed dead-letters the message as `dkim-key-invalid`.
 */
import { generateKeyPairSync } from 'node:crypto';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { dkimDnsRecord, parseDkimKey } from '../../lambda/core/dkim/key.js';
import { parseQueueMessage } from '../../lambda/core/message/index.js';
import { relayMessage, summarizeRelay, type RelayDependencies } from '../../lambda/core/relay.js';
import { SmtpPool } from '../../lambda/core/smtp/pool.js';
import { processRecord, type WorkerDependencies } from '../../lambda/worker/processRecord.js';
import { testCerts } from '../../local/certs.js';
import { startSmtpRelay, type SmtpRelay } from '../../local/smtpRelay.js';
import { MemoryConfigStore, MemoryDeadLetterQueue, MemoryIdempotencyStore, MemorySecretSource } from '../helpers/memoryPorts.js';

const pem = (type: 'rsa' | 'ed25519'): string =>
  type === 'rsa'
    ? generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
    : generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

const ACME_KEY = pem('rsa');
const ED_KEY = pem('ed25519');
/** The base64 body of a PEM key: what must never reach a log line or a DLQ attribute. */
const keyMaterial = (key: string): string => key.split('\n').slice(1, -2).join('');
const PARTNER_KEY = pem('rsa');

let relay: SmtpRelay;
let pool: SmtpPool;
let secrets: MemorySecretSource;
let config: MemoryConfigStore;
let deps: RelayDependencies;

/** The DNS a receiver would query: the records `mailrelay dkim dns` prints for each key. */
const published = new Map<string, string[]>();
function publish(key: string, domain: string, selector: string): void {
  const record = dkimDnsRecord(parseDkimKey(key, 'test'), domain, selector);
  published.set(record.name, [...record.strings]);
}
const resolver = async (name: string, type: string): Promise<string[][]> => {
  const strings = type === 'TXT' ? published.get(name.toLowerCase()) : undefined;
  if (!strings) throw Object.assign(new Error(`queryTxt ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
  return [strings];
};
const verify = async (raw: Buffer) => (await dkimVerify(raw, { resolver })).results;

beforeAll(async () => {
  relay = await startSmtpRelay({ users: { 'billing@acme.example': 's3cret-pw' } });
  pool = new SmtpPool({ ca: testCerts.ca });
  publish(ACME_KEY, 'acme.example', 'mr2026');
  publish(PARTNER_KEY, 'acme.example', 'partner');
});
afterAll(async () => {
  pool.closeIdle();
  await relay.stop();
});
beforeEach(() => {
  relay.clear();
  secrets = new MemorySecretSource({ 'mailrelay/dkim/acme': JSON.stringify({ privateKey: ACME_KEY }), 'mailrelay/dkim/ed': ED_KEY, 'mailrelay/dkim/junk': 'not a key' });
  config = new MemoryConfigStore({
    global: {
      scope: 'global',
      relay: { host: '127.0.0.1', port: relay.port, tls: 'starttls', timeoutSeconds: 5 },
      auth: { type: 'PLAIN', user: 'billing@acme.example', pass: { value: 's3cret-pw' } },
      dkim: { domain: 'acme.example', selector: 'mr2026', privateKey: { secret: 'mailrelay/dkim/acme', field: 'privateKey' } },
    },
  });
  deps = { config, secrets, pool };
});

const structured = JSON.stringify({
  idempotencyKey: 'dkim-structured-1',
  from: 'Acme Billing <billing@acme.example>',
  to: ['bob@example.net'],
  subject: 'Your invoice — März',
  text: 'Total: 12.00 EUR\nThanks.\n',
  html: '<p>Total: <b>12.00 EUR</b></p>',
  listUnsubscribe: { url: 'https://acme.example/u/123', mailto: 'mailto:unsub@acme.example' },
  headers: { 'X-Campaign': 'march' },
  attachments: [{ filename: 'invoice.csv', contentType: 'text/csv; charset=utf-8', content: Buffer.from('a,b\n1,2\n').toString('base64') }],
});

const raw = JSON.stringify({
  idempotencyKey: 'dkim-raw-1',
  raw: ['From: Acme <billing@acme.example>', 'To: bob@example.net', 'Subject: raw hello', 'Date: Fri, 04 Dec 2026 21:00:00 +0000', 'Message-ID: <raw-1@acme.example>', '', 'Body line one', 'line two with  two spaces', ''].join('\r\n'),
  envelope: { from: 'billing@acme.example', to: ['bob@example.net'] },
});

async function relayBody(body: string): Promise<Buffer> {
  const result = await relayMessage(parseQueueMessage(body, { fallbackIdempotencyKey: 'sqs-1' }), deps);
  expect(summarizeRelay(result), JSON.stringify(result.recipients)).toBe('delivered');
  expect(relay.messages).toHaveLength(1);
  return relay.messages[0]!.raw;
}

/** The message with one byte of its body changed (the first 'T'/'B' after the header block). */
function tamperBody(message: Buffer): Buffer {
  const copy = Buffer.from(message);
  const bodyStart = copy.indexOf('\r\n\r\n') + 4;
  const at = copy.indexOf('line', bodyStart) >= 0 ? copy.indexOf('line', bodyStart) : copy.indexOf('Total', bodyStart);
  expect(at).toBeGreaterThan(bodyStart - 1);
  copy[at] = copy[at]! ^ 0x20; // flip the case of one letter
  return copy;
}

describe('DKIM signing, verified by mailauth', () => {
  it('a structured message verifies: d=, s=, and h= covering From, To, Subject, Date, Message-ID and List-Unsubscribe(-Post)', async () => {
    const received = await relayBody(structured);

    expect(received.subarray(0, 15).toString()).toBe('DKIM-Signature:');
    const [result] = await verify(received);
    expect(result?.status.result, JSON.stringify(result?.status)).toBe('pass');
    expect(result?.signingDomain).toBe('acme.example');
    expect(result?.selector).toBe('mr2026');
    expect(result?.algo).toBe('rsa-sha256');
    const signed = new Set(String(result?.signingHeaders?.keys).toLowerCase().split(': '));
    for (const field of ['from', 'to', 'subject', 'date', 'message-id', 'list-unsubscribe', 'list-unsubscribe-post', 'mime-version', 'content-type']) {
      expect(signed, field).toContain(field);
    }
  });

  it('a raw message verifies too, its bytes otherwise unchanged', async () => {
    const received = await relayBody(raw);

    const [result] = await verify(received);
    expect(result?.status.result, JSON.stringify(result?.status)).toBe('pass');
    // What followed the signature is the producer's message, byte for byte.
    const signatureEnd = received.indexOf('\r\nFrom: Acme');
    const original = (JSON.parse(raw) as { raw: string }).raw;
    expect(received.subarray(signatureEnd + 2).toString()).toBe(original);
  });

  it('changing one body byte breaks the signature (structured and raw)', async () => {
    for (const body of [structured, raw]) {
      relay.clear();
      const received = await relayBody(body);
      expect((await verify(received))[0]?.status.result).toBe('pass');

      const [tampered] = await verify(tamperBody(received));
      expect(tampered?.status.result).toBe('neutral');
      expect(tampered?.status.comment).toMatch(/body hash did not verify/);
    }
  });

  it('the highest scope that sets dkim signs, whole: a binding key replaces the global one', async () => {
    secrets.secrets['mailrelay/dkim/partner'] = PARTNER_KEY;
    config.put({ scope: 'binding#acme.example', dkim: { domain: 'acme.example', selector: 'partner', privateKey: { secret: 'mailrelay/dkim/partner' }, headers: ['From', 'Subject'] } });

    const received = await relayBody(structured);

    const [result] = await verify(received);
    expect(result?.status.result).toBe('pass');
    expect(result?.selector).toBe('partner');
    expect(String(result?.signingHeaders?.keys).toLowerCase()).toBe('from: subject');
  });

  it('routes that share a signer read the key once and each carry a valid signature', async () => {
    config.put({ scope: 'domain#partner.example', relay: { timeoutSeconds: 6 } });
    const body = JSON.stringify({ ...(JSON.parse(structured) as object), to: ['bob@example.net', 'alice@partner.example'] });

    const result = await relayMessage(parseQueueMessage(body, { fallbackIdempotencyKey: 'sqs-1' }), deps);

    expect(summarizeRelay(result)).toBe('delivered');
    expect(relay.messages).toHaveLength(2); // two routes: two transactions
    for (const message of relay.messages) expect((await verify(message.raw))[0]?.status.result).toBe('pass');
    expect(secrets.calls.filter((c) => 'secret' in c.ref && c.ref.secret === 'mailrelay/dkim/acme')).toHaveLength(1);
  });

  it('no dkim in any scope: the message goes unsigned', async () => {
    config.put({ scope: 'global', relay: { host: '127.0.0.1', port: relay.port, tls: 'starttls', timeoutSeconds: 5 }, auth: { type: 'PLAIN', user: 'billing@acme.example', pass: { value: 's3cret-pw' } } });
    const received = await relayBody(structured);
    expect(received.includes('DKIM-Signature')).toBe(false);
  });
});

describe('a key that cannot be read or parsed is a configuration error', () => {
  const cases = [
    { name: 'a missing secret field', privateKey: { secret: 'mailrelay/dkim/acme', field: 'nope' }, detail: /dkim\.privateKey cannot be read: keysource secret:mailrelay\/dkim\/acme#nope has no non-empty string field "nope"/ },
    { name: 'a secret that is not a PEM key', privateKey: { secret: 'mailrelay/dkim/junk' }, detail: /dkim\.privateKey \(secret:mailrelay\/dkim\/junk\) is not a PEM private key/ },
    { name: 'an ed25519 key', privateKey: { secret: 'mailrelay/dkim/ed' }, detail: /is a ed25519 key; the signer signs rsa-sha256 only/ },
  ];
  for (const c of cases) {
    it(`${c.name}: nothing is sent, the recipients fail as dkim-key-invalid`, async () => {
      config.put({ scope: 'binding#acme.example', dkim: { domain: 'acme.example', selector: 's', privateKey: c.privateKey } });

      const result = await relayMessage(parseQueueMessage(structured, { fallbackIdempotencyKey: 'sqs-1' }), deps);

      expect(relay.messages).toHaveLength(0);
      expect(result.recipients).toEqual([expect.objectContaining({ address: 'bob@example.net', status: 'failed', reason: 'dkim-key-invalid', detail: expect.stringMatching(c.detail) })]);
      for (const key of [ACME_KEY, ED_KEY]) expect(JSON.stringify(result)).not.toContain(keyMaterial(key));
    });
  }

  it('the worker dead-letters such a message at once with reason dkim-key-invalid', async () => {
    config.put({ scope: 'binding#acme.example', dkim: { domain: 'acme.example', selector: 's', privateKey: { secret: 'mailrelay/dkim/ed' } } });
    const dlq = new MemoryDeadLetterQueue();
    const logs: unknown[] = [];
    const log = (...args: unknown[]) => logs.push(args);
    const worker: WorkerDependencies = {
      ...deps,
      idempotency: new MemoryIdempotencyStore(),
      deadLetters: dlq,
      logger: { debug: log, info: log, warn: log, error: log },
      metrics: { addMetric: () => undefined },
      maxReceiveCount: 5,
      claimLeaseMs: 60_000,
    };

    const outcome = await processRecord({ messageId: 'sqs-9', receiptHandle: 'rh', body: structured, attributes: { ApproximateReceiveCount: '1' } }, worker);

    expect(outcome).toBe('dead-lettered');
    expect(dlq.entries[0]?.reason).toMatchObject({ reason: 'dkim-key-invalid', recipients: ['bob@example.net'] });
    expect(keyMaterial(ED_KEY).length).toBeGreaterThan(40);
    expect(JSON.stringify([logs, dlq.entries])).not.toContain(keyMaterial(ED_KEY));
  });

  it('a secret store that cannot be reached defers the message (transient), it does not dead-letter it', async () => {
    config.put({ scope: 'binding#acme.example', dkim: { domain: 'acme.example', selector: 's', privateKey: { secret: 'mailrelay/dkim/absent' } } });

    const result = await relayMessage(parseQueueMessage(structured, { fallbackIdempotencyKey: 'sqs-1' }), deps);

    expect(result.recipients).toEqual([expect.objectContaining({ status: 'deferred', reason: 'secret-unavailable' })]);
    expect(relay.messages).toHaveLength(0);
  });
});
