/**
 * The gateway's submit step on its own (cli/gateway/submitMessage.ts), with in-memory ports: when
 * a body goes to the payload bucket, what the queue then gets, and which failure is which.
 * The real S3 / SQS path is test/integration/gatewayPayloads.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { MAX_MESSAGE_BYTES, MAX_OFFLOADED_MESSAGE_BYTES, QUEUE_ENVELOPE_RESERVE_BYTES } from '../../../cli/gateway/constants.js';
import type { PayloadOffload, SubmissionQueue } from '../../../cli/gateway/ports.js';
import { buildQueueMessage } from '../../../cli/gateway/queueMessage.js';
import { submitQueueMessage } from '../../../cli/gateway/submitMessage.js';
import { MAX_BODY_BYTES } from '../../../lambda/core/message/index.js';
import { MAX_PAYLOAD_BYTES, OFFLOAD_THRESHOLD_BYTES, readPayloadPointer } from '../../../lambda/core/payloads.js';

type Sent = { body: string; attributes: unknown };

function fakes(options: { putFails?: boolean; sendFails?: boolean } = {}) {
  const sent: Sent[] = [];
  const stored = new Map<string, string>();
  const queue: SubmissionQueue = {
    async send(body, attributes) {
      if (options.sendFails) throw new Error('SQS unavailable');
      sent.push({ body, attributes });
      return { messageId: `m${sent.length}` };
    },
  };
  const offload: PayloadOffload = {
    bucket: 'mailrelay-payloads',
    async put(body) {
      if (options.putFails) throw Object.assign(new Error('We encountered an internal error'), { name: 'InternalError' });
      const key = `k${stored.size + 1}`;
      stored.set(key, body);
      return { bucket: 'mailrelay-payloads', key };
    },
  };
  return { sent, stored, queue, offload };
}

/** A body of exactly `bytes` UTF-8 bytes (the content does not matter to this step). */
const bodyOf = (bytes: number): string => `{"raw":"${'x'.repeat(bytes - 10)}"}`;

describe('submitQueueMessage', () => {
  it('a body of 256 KiB or less goes on the queue as it is, with no S3 call', async () => {
    // Prepare
    const { sent, stored, queue, offload } = fakes();
    const body = bodyOf(OFFLOAD_THRESHOLD_BYTES);
    // Act
    const result = await submitQueueMessage(body, { queue, offload });
    // Assess
    expect(result).toEqual({ ok: true, messageId: 'm1' });
    expect(sent).toEqual([{ body, attributes: undefined }]);
    expect(stored.size).toBe(0);
  });

  it('a larger body goes to the bucket first; the queue gets the pointer and ExtendedPayloadSize', async () => {
    // Prepare
    const { sent, stored, queue, offload } = fakes();
    const body = bodyOf(OFFLOAD_THRESHOLD_BYTES + 1);
    // Act
    const result = await submitQueueMessage(body, { queue, offload });
    // Assess
    expect(result).toEqual({ ok: true, messageId: 'm1', payload: { bucket: 'mailrelay-payloads', key: 'k1' } });
    expect(stored.get('k1')).toBe(body);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.body).toBe('["software.amazon.payloadoffloading.PayloadS3Pointer",{"s3BucketName":"mailrelay-payloads","s3Key":"k1"}]');
    expect(readPayloadPointer(sent[0]!.body)).toEqual({ bucket: 'mailrelay-payloads', key: 'k1' });
    expect(sent[0]!.attributes).toEqual({ ExtendedPayloadSize: { DataType: 'Number', StringValue: String(OFFLOAD_THRESHOLD_BYTES + 1) } });
  });

  it('counts bytes, not characters: 200,000 two-byte characters are offloaded', async () => {
    const { stored, queue, offload } = fakes();
    const result = await submitQueueMessage(`{"raw":"${'é'.repeat(200_000)}"}`, { queue, offload });
    expect(result).toMatchObject({ ok: true, payload: { key: 'k1' } });
    expect(stored.size).toBe(1);
  });

  it('without a payload bucket nothing is offloaded: the body goes on the queue as it is', async () => {
    const { sent, queue } = fakes();
    const body = bodyOf(OFFLOAD_THRESHOLD_BYTES + 1);
    const result = await submitQueueMessage(body, { queue });
    expect(result).toEqual({ ok: true, messageId: 'm1' });
    expect(sent).toEqual([{ body, attributes: undefined }]);
  });

  it('a failed PutObject sends nothing: stage offload', async () => {
    // Prepare
    const { sent, queue, offload } = fakes({ putFails: true });
    // Act
    const result = await submitQueueMessage(bodyOf(OFFLOAD_THRESHOLD_BYTES + 1), { queue, offload });
    // Assess
    expect(result).toMatchObject({ ok: false, stage: 'offload', error: { name: 'InternalError' } });
    expect(result).not.toHaveProperty('payload');
    expect(sent).toEqual([]);
  });

  it('a failed SendMessage after the PutObject: stage queue, the object named and left in place (lifecycle rule)', async () => {
    // Prepare
    const { stored, queue, offload } = fakes({ sendFails: true });
    // Act
    const result = await submitQueueMessage(bodyOf(OFFLOAD_THRESHOLD_BYTES + 1), { queue, offload });
    // Assess
    expect(result).toMatchObject({ ok: false, stage: 'queue', payload: { bucket: 'mailrelay-payloads', key: 'k1' } });
    expect(stored.has('k1')).toBe(true);
  });

  it('a failed SendMessage of a small body: stage queue, no payload', async () => {
    const { queue, offload } = fakes({ sendFails: true });
    const result = await submitQueueMessage(bodyOf(1000), { queue, offload });
    expect(result).toMatchObject({ ok: false, stage: 'queue' });
    expect(result).not.toHaveProperty('payload');
  });
});

describe('gateway size limits', () => {
  const received = 'Received: from client.example ([192.0.2.1])\r\n\tby gw.example (mailrelay gateway) with ESMTPSA id abc;\r\n\tFri, 04 Dec 2026 21:00:00 +0000\r\n';
  const submission = { authnId: 'app1', authzId: 'app1', clientAddress: '192.0.2.1', receivedAt: '2026-12-04T21:00:00.000Z' };
  /** A message of about `bytes`, in 76-character base64-like lines. */
  const messageOf = (bytes: number): Buffer => {
    const line = `${'A'.repeat(76)}\r\n`;
    return Buffer.from(`Subject: big\r\nContent-Type: text/plain\r\n\r\n${line.repeat(Math.ceil(bytes / line.length))}`);
  };
  const build = (data: Buffer, maxBodyBytes?: number) =>
    buildQueueMessage({ data, received, envelope: { from: 'a@acme.example', to: ['b@example.net'] }, binding: 'acme', submission, ...(maxBodyBytes === undefined ? {} : { maxBodyBytes }) });

  it('SIZE is the SQS limit less the reserve without a bucket, the 40 MiB pointer limit less the reserve with one', () => {
    expect(MAX_MESSAGE_BYTES).toBe(MAX_BODY_BYTES - QUEUE_ENVELOPE_RESERVE_BYTES);
    expect(MAX_MESSAGE_BYTES).toBe(983_040);
    expect(MAX_OFFLOADED_MESSAGE_BYTES).toBe(MAX_PAYLOAD_BYTES - QUEUE_ENVELOPE_RESERVE_BYTES);
    expect(MAX_OFFLOADED_MESSAGE_BYTES).toBe(41_877_504);
  });

  it('a 2 MiB message: 552 against the SQS limit, accepted (and valid for the worker) against the pointer limit', () => {
    const data = messageOf(2 * 1_048_576);
    expect(build(data)).toMatchObject({ ok: false, code: 552, reason: 'too-large', message: expect.stringContaining('SQS takes 1048576 bytes') });
    const built = build(data, MAX_PAYLOAD_BYTES);
    expect(built.ok).toBe(true);
  });

  it('a body that still comes out above 40 MiB once encoded is 552, naming the S3 limit', () => {
    // Short lines: each CRLF grows by two bytes in JSON, so 40 MiB of them ends above the limit.
    const line = 'A\r\n';
    const data = Buffer.from(`Subject: big\r\n\r\n${line.repeat(Math.ceil(MAX_OFFLOADED_MESSAGE_BYTES / line.length) - 10)}`);
    expect(data.length).toBeLessThanOrEqual(MAX_OFFLOADED_MESSAGE_BYTES);
    expect(build(data, MAX_PAYLOAD_BYTES)).toMatchObject({ ok: false, code: 552, reason: 'too-large', message: expect.stringContaining(`the S3 payload limit is ${MAX_PAYLOAD_BYTES} bytes`) });
  });
});
