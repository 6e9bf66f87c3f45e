/**
 * Large messages through S3 (docs/payloads.md): the real Lambda handler reads SQS Extended Client
 * pointer bodies from the payload bucket on the local S3 stand-in, relays them to an smtp-server
 * relay with STARTTLS + AUTH, deletes the object once relayed and keeps it after a dead-letter.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { pollOnce, type BatchHandler } from '../../lambda/adapters/sqsPoller.js';
import { formatPayloadPointer } from '../../lambda/core/payloads.js';
import { localAwsClientConfig } from '../../local/awsClientConfig.js';
import { startSmtpRelay, type SmtpRelay } from '../../local/smtpRelay.js';
import { loadRelayHandler } from '../helpers/relayHandler.js';
import { PAYLOAD_BUCKET, startLocalWorld, type LocalWorld } from '../helpers/localWorld.js';

const PASSWORD = 'Pw-Payload-5c1d9e';
const MiB = 1_048_576;

let world: LocalWorld;
let relay: SmtpRelay;
let handler: BatchHandler;
let s3: S3Client;

const attachment = (filename: string, bytes: number) => {
  const content = randomBytes(bytes);
  return { filename, contentType: 'application/octet-stream', content: content.toString('base64'), sha256: createHash('sha256').update(content).digest('hex') };
};

/** Writes the body to the payload bucket and sends the pointer, as the extended clients do. */
async function sendLarge(body: string, bucket = PAYLOAD_BUCKET, extra: Record<string, { DataType: string; StringValue: string }> = {}): Promise<string> {
  const key = randomUUID();
  if (bucket === PAYLOAD_BUCKET) await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: Buffer.from(body, 'utf8'), ContentType: 'application/json' }));
  world.s3.requests.length = 0; // the producer's PutObject: only the worker's calls are counted
  await world.sqs.send(
    new SendMessageCommand({
      QueueUrl: world.queues.queueUrl,
      MessageBody: formatPayloadPointer({ bucket, key }),
      MessageAttributes: { ExtendedPayloadSize: { DataType: 'Number', StringValue: String(Buffer.byteLength(body, 'utf8')) }, ...extra },
    }),
  );
  return key;
}

const poll = () => pollOnce(handler, { client: world.sqs, queueUrl: world.queues.queueUrl, queueArn: world.queues.queueArn, waitTimeSeconds: 1 });

beforeAll(async () => {
  relay = await startSmtpRelay({
    users: { 'billing@acme.example': PASSWORD },
    onRcptTo: (address) => (address.startsWith('reject') ? { code: 550, message: '5.1.1 no such user' } : undefined),
  });
  world = await startLocalWorld({ secrets: { 'mailrelay/acme': JSON.stringify({ username: 'billing@acme.example', password: PASSWORD }) } });
  s3 = new S3Client({ ...localAwsClientConfig(world.s3.url, 1), forcePathStyle: true });
  await world.putConfig({
    scope: 'global',
    relay: { host: '127.0.0.1', port: relay.port, tls: 'starttls', timeoutSeconds: 30 },
    auth: { type: 'PLAIN', pass: { secret: 'mailrelay/acme' } },
  });
  handler = await loadRelayHandler('1024');
}, 60_000);

afterAll(async () => {
  s3?.destroy();
  await relay?.stop();
  await world?.stop();
});

beforeEach(() => {
  relay.clear();
  world.s3.requests.length = 0;
});

describe('S3 pointer bodies', () => {
  it('a 5 MiB message with attachments is relayed through S3, byte for byte, and its object deleted', async () => {
    const files = [attachment('scan-1.bin', 2_000_000), attachment('scan-2.bin', 2_000_000)];
    const body = JSON.stringify({
      from: 'Acme Billing <billing@acme.example>',
      to: ['bob@example.net'],
      subject: 'Your scans',
      text: 'Two scans attached.',
      idempotencyKey: 'large-1',
      attachments: files.map(({ sha256: _sha, ...a }) => a),
    });
    expect(Buffer.byteLength(body)).toBeGreaterThan(5 * MiB);
    const key = await sendLarge(body);
    expect(world.s3.keys(PAYLOAD_BUCKET)).toContain(key);

    const result = await poll();

    expect(result.failed).toBe(0);
    const [received] = await relay.waitForMessages(1, 30_000);
    expect(received?.rcptTo).toEqual(['bob@example.net']);
    const parsed = await simpleParser(received!.raw);
    expect(parsed.subject).toBe('Your scans');
    expect(parsed.attachments.map((a) => ({ filename: a.filename, sha256: createHash('sha256').update(a.content).digest('hex') }))).toEqual(
      files.map((f) => ({ filename: f.filename, sha256: f.sha256 })),
    );
    expect(world.s3.keys(PAYLOAD_BUCKET)).not.toContain(key);
    // Extra S3 calls for a large message: one GetObject, one DeleteObject (docs/payloads.md).
    expect(world.s3.requests.map((r) => r.operation)).toEqual(['GetObject', 'DeleteObject']);
  }, 60_000);

  it('a pointer to another bucket is refused naming it: DLQ with the pointer unchanged, nothing read', async () => {
    const body = JSON.stringify({ from: 'billing@acme.example', to: ['bob@example.net'], subject: 'x', text: 'x' });
    await sendLarge(body, 'someone-elses-bucket');

    const result = await poll();

    expect(result.failed).toBe(0);
    expect(relay.messages).toHaveLength(0);
    expect(world.s3.requests).toEqual([]);
    const [entry, ...rest] = await world.drainDlq();
    expect(rest).toEqual([]);
    expect(entry?.Body).toMatch(/^\["software\.amazon\.payloadoffloading\.PayloadS3Pointer",\{"s3BucketName":"someone-elses-bucket"/);
    expect(entry?.MessageAttributes?.['mailrelay.reason']?.StringValue).toBe('invalid-message');
    expect(entry?.MessageAttributes?.['mailrelay.detail']?.StringValue).toMatch(/\$\[1\]\.s3BucketName: S3 pointer to bucket someone-elses-bucket refused: payloads are read only from the stack's payload bucket mailrelay-payloads/);
  }, 30_000);

  it('a dead-lettered message keeps its object: the DLQ entry is the pointer, and a redrive reads the same object', async () => {
    const body = JSON.stringify({ from: 'billing@acme.example', to: ['reject-me@example.net'], subject: 'x', text: 'x'.repeat(300 * 1024), idempotencyKey: 'large-dlq-1' });
    const key = await sendLarge(body);

    const result = await poll();

    expect(result.failed).toBe(0);
    const [entry] = await world.drainDlq();
    expect(entry?.Body).toBe(formatPayloadPointer({ bucket: PAYLOAD_BUCKET, key }));
    expect(entry?.MessageAttributes?.['mailrelay.reason']?.StringValue).toBe('unknown-recipient');
    expect(world.s3.keys(PAYLOAD_BUCKET)).toContain(key);
    expect(world.s3.requests.map((r) => r.operation)).toEqual(['GetObject']);

    // A redrive sends the entry back as it is: the worker reads the same object again. The DLQ
    // entry carries no ExtendedPayloadSize, so the payload budget asks S3 its size first (HEAD).
    await world.sqs.send(new SendMessageCommand({ QueueUrl: world.queues.queueUrl, MessageBody: entry!.Body!, MessageAttributes: { 'mailrelay.idempotencyKey': { DataType: 'String', StringValue: 'large-dlq-1' } } }));
    await poll();
    expect(world.s3.requests.map((r) => r.operation)).toEqual(['GetObject', 'HeadObject', 'GetObject']);
    const [again] = await world.drainDlq();
    expect(again?.Body).toBe(entry?.Body);
    expect(world.s3.keys(PAYLOAD_BUCKET)).toContain(key);
  }, 30_000);

  it('an object that does not exist is dead-lettered at once as payload-missing, naming the key', async () => {
    const key = randomUUID();
    await world.sqs.send(new SendMessageCommand({ QueueUrl: world.queues.queueUrl, MessageBody: formatPayloadPointer({ bucket: PAYLOAD_BUCKET, key }) }));

    const result = await poll();

    expect(result.failed).toBe(0);
    const [entry] = await world.drainDlq();
    expect(entry?.MessageAttributes?.['mailrelay.reason']?.StringValue).toBe('payload-missing');
    // Without ExtendedPayloadSize the payload budget asks its size first: HeadObject answers a
    // body-less 404, which cannot say why; the GetObject it then asks names the code.
    expect(entry?.MessageAttributes?.['mailrelay.detail']?.StringValue).toBe(
      `reading the payload s3://${PAYLOAD_BUCKET}/${key}: NoSuchKey: The specified key does not exist. (the object does not exist: never written, expired by the bucket's lifecycle rule, or deleted after an earlier delivery)`,
    );
    expect(world.s3.requests.filter((r) => r.key === key).map((r) => r.operation)).toEqual(['HeadObject', 'GetObject']);
  }, 30_000);

  it('S3 throttling (503 SlowDown) is transient: the record is retried, not dead-lettered, and the object kept', async () => {
    const body = JSON.stringify({ from: 'billing@acme.example', to: ['carol@example.net'], subject: 'retry', text: 'y'.repeat(300 * 1024), idempotencyKey: 'large-retry-1' });
    const key = await sendLarge(body);
    world.s3.failNext('GetObject', { code: 'SlowDown' });

    const first = await poll();

    expect(first.failed).toBe(1);
    expect(relay.messages).toHaveLength(0);
    expect(world.s3.keys(PAYLOAD_BUCKET)).toContain(key);
    expect(await world.drainDlq()).toEqual([]);
  }, 30_000);

  it('a declared ExtendedPayloadSize over 40 MiB is refused without reading the object', async () => {
    const key = randomUUID();
    await world.sqs.send(
      new SendMessageCommand({
        QueueUrl: world.queues.queueUrl,
        MessageBody: formatPayloadPointer({ bucket: PAYLOAD_BUCKET, key }),
        MessageAttributes: { ExtendedPayloadSize: { DataType: 'Number', StringValue: String(41 * MiB) } },
      }),
    );

    await poll();

    expect(world.s3.requests).toEqual([]);
    const [entry] = await world.drainDlq();
    expect(entry?.MessageAttributes?.['mailrelay.detail']?.StringValue).toMatch(/the S3 payload must be at most 40 MiB/);
  }, 30_000);
});
