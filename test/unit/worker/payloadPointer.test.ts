/** The SQS Extended Client pointer (lambda/core/payloads.ts) and the worker's body resolution (lambda/worker/payload.ts). */
import { describe, expect, it } from 'vitest';
import { MessageValidationError } from '../../../lambda/core/errors.js';
import { declaredPayloadSize, formatPayloadPointer, MAX_PAYLOAD_BYTES, readPayloadPointer } from '../../../lambda/core/payloads.js';
import type { PayloadStore } from '../../../lambda/core/ports.js';
import { relayedPayloadId, releasePayload, resolveBody, wasRelayed } from '../../../lambda/worker/payload.js';
import type { QueueRecord } from '../../../lambda/worker/types.js';
import { MemoryIdempotencyStore } from '../../helpers/memoryPorts.js';

const issuesOf = (body: string) => {
  try {
    readPayloadPointer(body);
  } catch (error) {
    if (error instanceof MessageValidationError) return error.issues;
    throw error;
  }
  throw new Error('expected a MessageValidationError');
};

describe('readPayloadPointer', () => {
  it('reads the pointer the Java/Python extended clients write, byte for byte', () => {
    const body = '["software.amazon.payloadoffloading.PayloadS3Pointer",{"s3BucketName":"acme-payloads","s3Key":"4b0c6c1e-2a2f-4f57-9d0e-6c1f3c0f9a10"}]';
    expect(readPayloadPointer(body)).toEqual({ bucket: 'acme-payloads', key: '4b0c6c1e-2a2f-4f57-9d0e-6c1f3c0f9a10' });
    expect(formatPayloadPointer({ bucket: 'acme-payloads', key: '4b0c6c1e-2a2f-4f57-9d0e-6c1f3c0f9a10' })).toBe(body);
    expect(readPayloadPointer(` \n${JSON.stringify(JSON.parse(body), null, 2)}`)).toEqual({ bucket: 'acme-payloads', key: '4b0c6c1e-2a2f-4f57-9d0e-6c1f3c0f9a10' });
  });

  it('leaves ordinary bodies, other arrays and non-JSON to the message parser', () => {
    expect(readPayloadPointer('{"from":"a@b.example"}')).toBeUndefined();
    expect(readPayloadPointer('["something else",{}]')).toBeUndefined();
    expect(readPayloadPointer('[not json')).toBeUndefined();
  });

  it.each([
    ['["software.amazon.payloadoffloading.PayloadS3Pointer"]', '$', /must have 2 elements/],
    ['["software.amazon.payloadoffloading.PayloadS3Pointer","b/k"]', '$[1]', /must be an object/],
    ['["software.amazon.payloadoffloading.PayloadS3Pointer",{"s3BucketName":"b","s3Key":"k"}]', '$[1].s3BucketName', /S3 bucket name/],
    ['["software.amazon.payloadoffloading.PayloadS3Pointer",{"s3BucketName":"bucket","s3Key":""}]', '$[1].s3Key', /non-empty/],
    ['["software.amazon.payloadoffloading.PayloadS3Pointer",{"s3BucketName":"bucket","s3Key":"a\\r\\nb"}]', '$[1].s3Key', /must not contain CR/],
    ['["software.amazon.payloadoffloading.PayloadS3Pointer",{"s3BucketName":"bucket","s3Key":"k","region":"x"}]', '$[1].region', /not a field/],
  ])('refuses %s at %s', (body, path, message) => {
    expect(issuesOf(body)).toEqual([{ path, message: expect.stringMatching(message) }]);
  });

  it('reads ExtendedPayloadSize, and the legacy SQSLargePayloadSize', () => {
    expect(declaredPayloadSize({ ExtendedPayloadSize: { stringValue: '5242880' } })).toBe(5_242_880);
    expect(declaredPayloadSize({ SQSLargePayloadSize: { stringValue: '10' } })).toBe(10);
    expect(declaredPayloadSize({ ExtendedPayloadSize: { stringValue: 'lots' } })).toBeUndefined();
    expect(declaredPayloadSize(undefined)).toBeUndefined();
  });
});

describe('resolveBody and releasePayload', () => {
  const calls: string[] = [];
  const objects = new Map<string, string>([['bucket/k1', '{"from":"a@b.example"}']]);
  const store: PayloadStore = {
    async read(bucket, key, maxBytes) {
      calls.push(`read ${bucket}/${key} ${maxBytes}`);
      return { kind: 'found', body: objects.get(`${bucket}/${key}`) ?? '' };
    },
    async size(bucket, key) {
      calls.push(`size ${bucket}/${key}`);
      return Buffer.byteLength(objects.get(`${bucket}/${key}`) ?? '');
    },
    async delete(bucket, key) {
      calls.push(`delete ${bucket}/${key}`);
    },
  };
  const logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
  const deps = { payloads: { bucket: 'bucket', store }, logger };
  const record = (body: string): QueueRecord => ({ messageId: 'm1', receiptHandle: 'r', body, attributes: {} });

  it('returns an ordinary body as it is, with the queue limit', async () => {
    expect(await resolveBody(record('{"x":1}'), deps)).toEqual({ text: '{"x":1}', maxBytes: 1_048_576 });
  });

  it('reads a pointer from the payload bucket, with the 40 MiB limit', async () => {
    calls.length = 0;
    const resolved = await resolveBody(record(formatPayloadPointer({ bucket: 'bucket', key: 'k1' })), deps);
    expect(resolved).toEqual({ text: '{"from":"a@b.example"}', maxBytes: MAX_PAYLOAD_BYTES, pointer: { bucket: 'bucket', key: 'k1' } });
    expect(calls).toEqual([`read bucket/k1 ${MAX_PAYLOAD_BYTES}`]);
  });

  it('refuses another bucket, and any pointer without a payload bucket, naming the bucket', async () => {
    const body = formatPayloadPointer({ bucket: 'other-bucket', key: 'k1' });
    await expect(resolveBody(record(body), deps)).rejects.toThrow(/\$\[1\]\.s3BucketName: S3 pointer to bucket other-bucket refused: payloads are read only from the stack's payload bucket bucket/);
    await expect(resolveBody(record(body), { logger })).rejects.toThrow(/bucket other-bucket refused: this worker has no payload bucket \(PAYLOAD_BUCKET_NAME is not set\)/);
  });

  it('deletes the object only when the record was delivered, after recording the pointer as relayed', async () => {
    calls.length = 0;
    const idempotency = new MemoryIdempotencyStore();
    const pointer = { bucket: 'bucket', key: 'k1' };
    for (const outcome of ['retry', 'dead-lettered', 'duplicate'] as const) await releasePayload(pointer, outcome, {}, { ...deps, idempotency });
    expect(calls).toEqual([]);
    expect(idempotency.records.size).toBe(0);
    await releasePayload(pointer, 'delivered', {}, { ...deps, idempotency });
    expect(calls).toEqual(['delete bucket/k1']);
    expect(idempotency.records.get(relayedPayloadId(pointer))).toMatchObject({ status: 'delivered' });
    expect(await wasRelayed(record(formatPayloadPointer(pointer)), idempotency)).toBe(true);
    expect(await wasRelayed(record(formatPayloadPointer({ bucket: 'bucket', key: 'never-relayed' })), idempotency)).toBe(false);
  });

  it('keeps the object when the pointer cannot be recorded as relayed', async () => {
    calls.length = 0;
    const warnings: string[] = [];
    const idempotency = new MemoryIdempotencyStore();
    idempotency.settle = async () => {
      throw new Error('table down');
    };
    await releasePayload({ bucket: 'bucket', key: 'k1' }, 'delivered', {}, { ...deps, logger: { ...logger, warn: (m: string) => void warnings.push(m) }, idempotency });
    expect(calls).toEqual([]);
    expect(warnings).toEqual(['could not record the payload as relayed; it is kept, the bucket lifecycle rule will delete it']);
  });
});
