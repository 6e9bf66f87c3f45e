/**
 * The sandbox's payload budget through the real Lambda handler (docs/payloads.md "Memory"):
 * with PAYLOAD_BUDGET_MIB=1, a batch of S3 pointer bodies of 600 KiB each runs one payload at a
 * time — the S3 stand-in's request log shows every object read only after the one before it was
 * relayed and deleted — a payload larger than the budget still runs (alone), a pointer without
 * ExtendedPayloadSize is sized with HeadObject first, and every message is relayed.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollOnce, type BatchHandler } from '../../lambda/adapters/sqsPoller.js';
import { formatPayloadPointer } from '../../lambda/core/payloads.js';
import { localAwsClientConfig } from '../../local/awsClientConfig.js';
import { startSmtpRelay, type SmtpRelay } from '../../local/smtpRelay.js';
import { loadRelayHandler } from '../helpers/relayHandler.js';
import { PAYLOAD_BUCKET, startLocalWorld, type LocalWorld } from '../helpers/localWorld.js';

const PASSWORD = 'Pw-Budget-8e2a41';
const KiB = 1024;
const MiB = 1_048_576;
const BUDGET_BYTES = 1 * MiB;

let world: LocalWorld;
let relay: SmtpRelay;
let handler: BatchHandler;
let s3: S3Client;
const batchSizes: number[] = [];

beforeAll(async () => {
  relay = await startSmtpRelay({ users: { 'billing@acme.example': PASSWORD } });
  world = await startLocalWorld({
    secrets: { 'mailrelay/acme': JSON.stringify({ username: 'billing@acme.example', password: PASSWORD }) },
    env: { PAYLOAD_BUDGET_MIB: String(BUDGET_BYTES / MiB), BATCH_CONCURRENCY: '10' },
  });
  s3 = new S3Client({ ...localAwsClientConfig(world.s3.url, 1), forcePathStyle: true });
  await world.putConfig({
    scope: 'global',
    relay: { host: '127.0.0.1', port: relay.port, tls: 'starttls', timeoutSeconds: 30 },
    auth: { type: 'PLAIN', pass: { secret: 'mailrelay/acme' } },
  });
  const relayHandler = await loadRelayHandler();
  handler = (event, context) => {
    batchSizes.push(event.Records.length);
    return relayHandler(event, context);
  };
}, 60_000);

afterAll(async () => {
  s3?.destroy();
  await relay?.stop();
  await world?.stop();
});

interface Sent {
  readonly key: string;
  readonly bytes: number;
  readonly subject: string;
  readonly sha256: string;
}

/** A message with one random attachment of `attachmentBytes`, offloaded to the payload bucket. */
async function offload(index: number, attachmentBytes: number): Promise<Sent & { body: string }> {
  const content = randomBytes(attachmentBytes);
  const subject = `Budget ${index}`;
  const body = JSON.stringify({
    from: 'billing@acme.example',
    to: [`r${index}@example.net`],
    subject,
    text: 'attached',
    idempotencyKey: `budget-${index}-${randomUUID()}`,
    attachments: [{ filename: `f${index}.bin`, contentType: 'application/octet-stream', content: content.toString('base64') }],
  });
  const key = randomUUID();
  await s3.send(new PutObjectCommand({ Bucket: PAYLOAD_BUCKET, Key: key, Body: Buffer.from(body, 'utf8') }));
  return { key, body, bytes: Buffer.byteLength(body), subject, sha256: createHash('sha256').update(content).digest('hex') };
}

/**
 * Replays the S3 stand-in's request log: an object is held from its GetObject until its
 * DeleteObject (the worker releases its budget after the delete). The most bytes and objects held at once.
 */
function heldAtOnce(requests: readonly { operation: string; key: string }[], sizes: ReadonlyMap<string, number>): { bytes: number; objects: number } {
  const held = new Set<string>();
  let bytes = 0;
  let most = { bytes: 0, objects: 0 };
  for (const request of requests) {
    if (request.operation === 'GetObject' && !held.has(request.key)) {
      held.add(request.key);
      bytes += sizes.get(request.key) ?? 0;
    } else if (request.operation === 'DeleteObject' && held.delete(request.key)) {
      bytes -= sizes.get(request.key) ?? 0;
    }
    most = { bytes: Math.max(most.bytes, bytes), objects: Math.max(most.objects, held.size) };
  }
  return most;
}

describe('the payload budget through the handler', () => {
  it('with a 1 MiB budget, 600 KiB payloads of one batch are held one at a time; a 1.5 MiB one runs alone; all are relayed', async () => {
    // Bodies of ~600 KiB (two do not fit in 1 MiB), one of ~1.5 MiB (over the whole budget), one
    // without ExtendedPayloadSize (sized by HeadObject before it is read).
    const sizes = [450 * KiB, 450 * KiB, 450 * KiB, 1100 * KiB, 450 * KiB];
    const sent = await Promise.all(sizes.map((bytes, i) => offload(i, bytes)));
    const undeclared = sent[4]!;
    world.s3.requests.length = 0;
    await world.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: world.queues.queueUrl,
        Entries: sent.map((s, i) => ({
          Id: String(i),
          MessageBody: formatPayloadPointer({ bucket: PAYLOAD_BUCKET, key: s.key }),
          ...(s === undeclared ? {} : { MessageAttributes: { ExtendedPayloadSize: { DataType: 'Number', StringValue: String(s.bytes) } } }),
        })),
      }),
    );
    expect(sent.filter((s) => s.bytes > BUDGET_BYTES / 2 && s.bytes < BUDGET_BYTES)).toHaveLength(4);
    expect(sent[3]!.bytes).toBeGreaterThan(BUDGET_BYTES);

    let relayed = 0;
    for (let poll = 0; poll < 10 && relayed < sent.length; poll++) {
      const result = await pollOnce(handler, { client: world.sqs, queueUrl: world.queues.queueUrl, queueArn: world.queues.queueArn, waitTimeSeconds: 1 });
      expect(result.failed).toBe(0);
      relayed += result.deleted;
    }

    // Every message relayed, byte for byte, and its object deleted.
    const received = await relay.waitForMessages(sent.length, 30_000);
    const parsed = await Promise.all(received.map(async (m) => simpleParser(m.raw)));
    expect(parsed.map((p) => ({ subject: p.subject, sha256: createHash('sha256').update(p.attachments[0]!.content).digest('hex') })).sort((a, b) => a.subject!.localeCompare(b.subject!))).toEqual(
      sent.map((s) => ({ subject: s.subject, sha256: s.sha256 })),
    );
    for (const s of sent) expect(world.s3.keys(PAYLOAD_BUCKET)).not.toContain(s.key);

    // They came in one batch (else one at a time would prove nothing) ...
    expect(Math.max(...batchSizes)).toBeGreaterThanOrEqual(3);
    // ... and were held one at a time: never two objects between their GET and their DELETE.
    const byKey = new Map(sent.map((s) => [s.key, s.bytes]));
    const most = heldAtOnce(world.s3.requests, byKey);
    expect(most.objects).toBe(1);
    expect(most.bytes).toBeLessThanOrEqual(Math.max(BUDGET_BYTES, ...sizes.map((_, i) => sent[i]!.bytes)));
    // One GET and one DELETE per object; a HEAD only for the one without ExtendedPayloadSize, before its GET.
    const operations = world.s3.requests.map((r) => `${r.operation} ${r.key === undeclared.key ? 'undeclared' : 'declared'}`);
    expect(operations.filter((o) => o.startsWith('HeadObject'))).toEqual(['HeadObject undeclared']);
    expect(operations.indexOf('HeadObject undeclared')).toBeLessThan(operations.indexOf('GetObject undeclared'));
    expect(world.s3.requests.filter((r) => r.operation === 'GetObject')).toHaveLength(sent.length);
    expect(world.s3.requests.filter((r) => r.operation === 'DeleteObject')).toHaveLength(sent.length);
  }, 120_000);
});

describe('copies of one pointer (an SQS duplicate delivery, a DLQ entry redriven twice): relayed once, never also dead-lettered', () => {
  /** The handler's event: the same pointer record delivered once per receipt handle. */
  const copies = (sent: Sent, receiptHandles: readonly string[]): SQSEvent => ({
    Records: receiptHandles.map((receiptHandle) => ({
      messageId: `sqs-${sent.key}-${receiptHandle}`,
      receiptHandle,
      body: formatPayloadPointer({ bucket: PAYLOAD_BUCKET, key: sent.key }),
      attributes: { ApproximateReceiveCount: '1', SentTimestamp: String(Date.now()), ApproximateFirstReceiveTimestamp: String(Date.now()), SenderId: 'test' },
      messageAttributes: { ExtendedPayloadSize: { dataType: 'Number', stringValue: String(sent.bytes) } },
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: world.queues.queueArn,
      awsRegion: 'us-east-1',
    })) as SQSEvent['Records'],
  });
  const invoke = async (event: SQSEvent) => (await handler(event, { getRemainingTimeInMillis: () => 60_000 } as never)) as { batchItemFailures: { itemIdentifier: string }[] };

  it('two copies in one batch under a budget that holds one payload: the second, finding the object deleted, is a duplicate', async () => {
    relay.clear();
    await world.drainDlq();
    const sent = await offload(100, 450 * KiB);
    expect(sent.bytes * 2).toBeGreaterThan(BUDGET_BYTES);
    world.s3.requests.length = 0;

    const result = await invoke(copies(sent, ['rh-a', 'rh-b']));

    expect(result.batchItemFailures).toEqual([]);
    expect(relay.messages).toHaveLength(1);
    expect(await world.drainDlq()).toEqual([]);
    // The second copy waited for the budget, then read after the first was relayed and deleted.
    expect(world.s3.requests.filter((r) => r.key === sent.key).map((r) => r.operation)).toEqual(['GetObject', 'DeleteObject', 'GetObject']);
  }, 60_000);

  it('a copy received by a later invocation (or another sandbox) after the delete is a duplicate, not payload-missing', async () => {
    relay.clear();
    await world.drainDlq();
    const sent = await offload(101, 10 * KiB);
    expect((await invoke(copies(sent, ['rh-first']))).batchItemFailures).toEqual([]);
    expect(world.s3.keys(PAYLOAD_BUCKET)).not.toContain(sent.key);

    const again = await invoke(copies(sent, ['rh-again']));

    expect(again.batchItemFailures).toEqual([]);
    expect(relay.messages).toHaveLength(1);
    expect(await world.drainDlq()).toEqual([]);
  }, 60_000);
});
