/**
 * Large SMTP submissions through S3 (docs/gateway.md, docs/payloads.md), every peer real: nodemailer
 * submits over STARTTLS + AUTH PLAIN to the gateway (startAwsGateway: the production wiring), which
 * writes the body to the payload bucket on the S3 stand-in and puts an SQS Extended Client pointer
 * on fauxqs; the real Lambda handler reads the pointer and relays the message to an smtp-server
 * relay (STARTTLS + AUTH). Failures of S3 and of SQS are injected at the protocol level.
 */
import { createHash, randomBytes } from 'node:crypto';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ReceiveMessageCommand, SQSClient, type Message } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { SQSRecord } from 'aws-lambda';
import { simpleParser } from 'mailparser';
import nodemailer, { type SendMailOptions } from 'nodemailer';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startAwsGateway, type AwsGateway, type AwsGatewayOptions } from '../../cli/gateway/adapters/awsGateway.js';
import { MAX_MESSAGE_BYTES, MAX_OFFLOADED_MESSAGE_BYTES } from '../../cli/gateway/constants.js';
import { MemoryEvents } from '../../cli/gateway/events.js';
import { pollOnce, type BatchHandler } from '../../lambda/adapters/sqsPoller.js';
import { readPayloadPointer } from '../../lambda/core/payloads.js';
import { localAwsClientConfig } from '../../local/awsClientConfig.js';
import { testCerts } from '../../local/certs.js';
import { startSmtpRelay, type SmtpRelay } from '../../local/smtpRelay.js';
import { loadRelayHandler } from '../helpers/relayHandler.js';
import { PAYLOAD_BUCKET, startLocalWorld, type LocalWorld } from '../helpers/localWorld.js';
import { plainToken, SmtpDialogue } from '../helpers/smtpDialogue.js';

const RELAY_PASSWORD = 'Pw-GwPayload-7a1c';
const SUBMITTER_PASSWORD = 'app1-Pw-5d4c3b2a19';
const MiB = 1_048_576;

let world: LocalWorld;
let relay: SmtpRelay;
let handler: BatchHandler;
/** Every SQS record the worker was handed, as it got it. */
const records: SQSRecord[] = [];
const clients: { destroy(): void }[] = [];
const gateways: AwsGateway[] = [];
let s3: S3Client;
let secretsManager: SecretsManagerClient;
let ssm: SSMClient;

async function gateway(options: { events: MemoryEvents; payloadBucket?: string; sqs?: SQSClient }): Promise<AwsGateway> {
  const started = await startAwsGateway({
    clients: { sqs: options.sqs ?? world.sqs, dynamo: world.documents, secretsManager, ssm, s3 },
    queueUrl: world.queues.queueUrl,
    configTable: world.configTable,
    secretPrefix: 'mailrelay/',
    tlsCert: { value: testCerts.server.cert.toString('utf8') },
    tlsKey: { value: testCerts.server.key.toString('utf8') },
    host: '127.0.0.1',
    port: 0,
    serverName: 'localhost',
    cacheTtlMs: 0,
    events: options.events,
    ...(options.payloadBucket !== undefined && { payloadBucket: options.payloadBucket }),
  } satisfies AwsGatewayOptions);
  gateways.push(started);
  return started;
}

const submitter = (port: number) =>
  nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, requireTLS: true, tls: { ca: testCerts.ca, servername: 'localhost' }, auth: { user: 'app1', pass: SUBMITTER_PASSWORD }, authMethod: 'PLAIN' });

/** The exact bytes nodemailer would submit for `mail` (its own composer, buffered). */
async function compose(mail: SendMailOptions): Promise<Buffer> {
  const info = await nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows' }).sendMail(mail);
  return info.message as Buffer;
}

const poll = () => pollOnce(handler, { client: world.sqs, queueUrl: world.queues.queueUrl, queueArn: world.queues.queueArn, waitTimeSeconds: 1 });

async function queued(): Promise<Message[]> {
  const { Messages } = await world.sqs.send(new ReceiveMessageCommand({ QueueUrl: world.queues.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: 0 }));
  return Messages ?? [];
}

/** EHLO after STARTTLS and AUTH: the SIZE the gateway announces to an authenticated client. */
async function announcedSize(port: number): Promise<number> {
  const { dialogue } = await SmtpDialogue.open(port);
  try {
    await dialogue.command('EHLO client.example');
    await dialogue.startTls();
    const ehlo = await dialogue.command('EHLO client.example');
    return Number(/SIZE (\d+)/.exec(ehlo.text)![1]);
  } finally {
    dialogue.close();
  }
}

beforeAll(async () => {
  relay = await startSmtpRelay({ users: { 'billing@acme.example': RELAY_PASSWORD } });
  world = await startLocalWorld({ secrets: { 'mailrelay/acme': JSON.stringify({ username: 'billing@acme.example', password: RELAY_PASSWORD }) } });
  s3 = new S3Client({ ...localAwsClientConfig(world.s3.url, 1), forcePathStyle: true });
  secretsManager = new SecretsManagerClient(localAwsClientConfig(world.secrets.url, 1));
  ssm = new SSMClient(localAwsClientConfig(world.secrets.url, 1));
  clients.push(s3, secretsManager, ssm);
  await world.putConfig({
    scope: 'global',
    relay: { host: '127.0.0.1', port: relay.port, tls: 'starttls', timeoutSeconds: 30 },
    auth: { type: 'PLAIN', pass: { secret: 'mailrelay/acme' } },
  });
  await world.putConfig({ scope: 'submitter#app1', password: { value: SUBMITTER_PASSWORD }, binding: 'acme', fromDomains: ['acme.example'] });
  const relayHandler = await loadRelayHandler('1024');
  handler = (event, context) => {
    records.push(...event.Records);
    return relayHandler(event, context);
  };
}, 60_000);

afterAll(async () => {
  await Promise.all(gateways.map((g) => g.stop()));
  clients.forEach((c) => c.destroy());
  await relay?.stop();
  await world?.stop();
});

beforeEach(() => {
  relay.clear();
  records.length = 0;
  world.s3.requests.length = 0;
});

describe('gateway with a payload bucket', () => {
  it('a 2 MiB submission goes to S3, the queue holds a pointer, and the worker relays it byte for byte', async () => {
    // Prepare
    const events = new MemoryEvents();
    const { port } = await gateway({ events, payloadBucket: PAYLOAD_BUCKET });
    const content = randomBytes(1_600_000);
    const mail = {
      from: 'Acme Billing <billing@acme.example>',
      to: 'bob@example.net',
      subject: 'Scan through the gateway',
      text: 'One scan attached.',
      attachments: [{ filename: 'scan.bin', content, contentType: 'application/octet-stream' }],
    };
    const raw = await compose(mail);
    expect(raw.length).toBeGreaterThan(2 * MiB);

    // Act: submit over STARTTLS + AUTH PLAIN
    const info = await submitter(port).sendMail({ envelope: { from: 'billing@acme.example', to: ['bob@example.net'] }, raw });

    // Assess: 250, one PutObject, and the object is the queue body (JSON with raw) the worker will read
    expect(info.response).toMatch(/^250 .*queued as gateway-/);
    const [putRequest, ...otherS3] = world.s3.requests;
    expect(otherS3).toEqual([]);
    expect(putRequest).toMatchObject({ operation: 'PutObject', bucket: PAYLOAD_BUCKET });
    const key = putRequest!.key;
    const stored = world.s3.getObject(PAYLOAD_BUCKET, key)!;
    const object = JSON.parse(stored.toString('utf8')) as { raw: string; envelope: unknown; binding: string; idempotencyKey: string };
    expect(object).toMatchObject({ envelope: { from: 'billing@acme.example', to: ['bob@example.net'] }, binding: 'acme' });
    // SMTP ends the data with CRLF: a message that does not is submitted with one added.
    const submitted = raw.toString('utf8').endsWith('\r\n') ? raw.toString('utf8') : `${raw.toString('utf8')}\r\n`;
    expect(object.raw.endsWith(submitted)).toBe(true);
    expect(object.raw.length - submitted.length).toBeLessThan(400);
    const [queuedEvent] = events.named('message-queued');
    expect(queuedEvent).toMatchObject({ code: 250, idempotencyKey: object.idempotencyKey, payload: `s3://${PAYLOAD_BUCKET}/${key}`, bytes: raw.length });

    // Act: the worker takes the record
    const result = await poll();

    // Assess: the record was the pointer with ExtendedPayloadSize; the relay got the same bytes; the object is gone
    expect(result).toMatchObject({ received: 1, failed: 0 });
    const [record] = records;
    expect(readPayloadPointer(record!.body)).toEqual({ bucket: PAYLOAD_BUCKET, key });
    expect(record!.messageAttributes['ExtendedPayloadSize']).toMatchObject({ dataType: 'Number', stringValue: String(stored.length) });
    const [relayed] = await relay.waitForMessages(1, 30_000);
    expect(relayed!.rcptTo).toEqual(['bob@example.net']);
    const relayedText = relayed!.raw.toString('utf8');
    // What reached the relay: the gateway's Received header, then exactly what the client submitted.
    expect(object.raw).toMatch(/^Received: from \S+ \(\[127\.0\.0\.1\]\)\r\n\t\(using TLS/);
    expect(relayedText).toBe(object.raw);
    const parsed = await simpleParser(relayed!.raw);
    expect(parsed.attachments.map((a) => ({ filename: a.filename, sha256: createHash('sha256').update(a.content).digest('hex') }))).toEqual([
      { filename: 'scan.bin', sha256: createHash('sha256').update(content).digest('hex') },
    ]);
    expect(world.s3.keys(PAYLOAD_BUCKET)).not.toContain(key);
    // The body never reaches a log line: no event holds the subject or a piece of the attachment.
    const logged = JSON.stringify(events.events);
    expect(logged).not.toContain('Scan through the gateway');
    expect(logged).not.toContain(content.subarray(0, 48).toString('base64'));
  }, 60_000);

  it('a message of 256 KiB or less is queued as it is: no S3 call', async () => {
    // Prepare
    const events = new MemoryEvents();
    const { port } = await gateway({ events, payloadBucket: PAYLOAD_BUCKET });
    // Act
    const info = await submitter(port).sendMail({ from: 'billing@acme.example', to: 'carol@example.org', subject: 'Small', text: 'small' });
    const result = await poll();
    // Assess
    expect(info.response).toMatch(/^250 /);
    expect(result).toMatchObject({ received: 1, failed: 0 });
    expect(records[0]!.body).toMatch(/^\{"idempotencyKey":"gateway-/);
    expect(records[0]!.messageAttributes).toEqual({});
    expect(world.s3.requests).toEqual([]);
    await relay.waitForMessages(1, 30_000);
  }, 30_000);

  it('announces the 40 MiB pointer limit as SIZE; without a bucket, the SQS one', async () => {
    const withBucket = await gateway({ events: new MemoryEvents(), payloadBucket: PAYLOAD_BUCKET });
    const without = await gateway({ events: new MemoryEvents() });
    expect(await announcedSize(withBucket.port)).toBe(MAX_OFFLOADED_MESSAGE_BYTES);
    expect(await announcedSize(without.port)).toBe(MAX_MESSAGE_BYTES);
  }, 30_000);

  it('a failing S3 PutObject: 451, nothing on the queue, the failure logged without the body', async () => {
    // Prepare
    const events = new MemoryEvents();
    const { port } = await gateway({ events, payloadBucket: PAYLOAD_BUCKET });
    world.s3.failNext('PutObject', { code: 'InternalError' });
    const before = world.s3.keys(PAYLOAD_BUCKET);
    // Act
    const sending = submitter(port).sendMail({ from: 'billing@acme.example', to: 'bob@example.net', subject: 'Refused by S3', text: 'x'.repeat(400 * 1024) });
    // Assess
    await expect(sending).rejects.toMatchObject({ responseCode: 451 });
    expect(world.s3.requests).toEqual([{ operation: 'PutObject', bucket: PAYLOAD_BUCKET, key: expect.any(String), failedWith: 'InternalError' }]);
    expect(world.s3.keys(PAYLOAD_BUCKET)).toEqual(before);
    expect(await queued()).toEqual([]);
    expect(events.named('message-queued')).toEqual([]);
    const [failed] = events.named('offload-failed');
    expect(failed).toMatchObject({ code: 451, bucket: PAYLOAD_BUCKET, detail: expect.stringContaining('InternalError') });
    expect(JSON.stringify(events.events)).not.toContain('Refused by S3');
  }, 30_000);

  it('with the AUTH dialogue by hand: DATA is answered 451 only after the PutObject failed', async () => {
    // Prepare
    const events = new MemoryEvents();
    const { port } = await gateway({ events, payloadBucket: PAYLOAD_BUCKET });
    world.s3.failNext('PutObject', { code: 'SlowDown' });
    const { dialogue } = await SmtpDialogue.open(port);
    await dialogue.command('EHLO client.example');
    await dialogue.startTls();
    await dialogue.command('EHLO client.example');
    expect((await dialogue.command(`AUTH PLAIN ${plainToken('', 'app1', SUBMITTER_PASSWORD)}`)).code).toBe(235);
    expect((await dialogue.command('MAIL FROM:<billing@acme.example>')).code).toBe(250);
    expect((await dialogue.command('RCPT TO:<bob@example.net>')).code).toBe(250);
    expect((await dialogue.command('DATA')).code).toBe(354);
    // Act
    const line = `${'B'.repeat(76)}\r\n`;
    const answer = await dialogue.sendRaw(`From: billing@acme.example\r\nTo: bob@example.net\r\nSubject: slow\r\n\r\n${line.repeat(4000)}.\r\n`);
    dialogue.close();
    // Assess
    expect(answer.code).toBe(451);
    expect(world.s3.requests.map((r) => r.failedWith)).toEqual(['SlowDown']);
    expect(await queued()).toEqual([]);
  }, 30_000);

  it('a failing SendMessage after the PutObject: 451, the object stays for the lifecycle rule and is named in the event', async () => {
    // Prepare: an SQS endpoint nobody listens on, as when SQS is unreachable
    const deadSqs = new SQSClient(localAwsClientConfig('http://127.0.0.1:9', 1));
    clients.push(deadSqs);
    const events = new MemoryEvents();
    const { port } = await gateway({ events, payloadBucket: PAYLOAD_BUCKET, sqs: deadSqs });
    // Act
    const sending = submitter(port).sendMail({ from: 'billing@acme.example', to: 'bob@example.net', subject: 'Refused by SQS', text: 'y'.repeat(400 * 1024) });
    // Assess
    await expect(sending).rejects.toMatchObject({ responseCode: 451 });
    const [put] = world.s3.requests;
    expect(world.s3.requests).toEqual([{ operation: 'PutObject', bucket: PAYLOAD_BUCKET, key: put!.key }]);
    expect(world.s3.keys(PAYLOAD_BUCKET)).toContain(put!.key);
    expect(events.named('queue-failed')).toEqual([expect.objectContaining({ code: 451, payload: `s3://${PAYLOAD_BUCKET}/${put!.key}` })]);
    expect(await queued()).toEqual([]);
  }, 30_000);
});
