/**
 * The S3 payload store is imported on the first pointer message (lambda/adapters/lazy.ts). When
 * its chunk cannot load (a broken deployment, EMFILE), the record must fail like an S3 call that
 * cannot be made — transient, with a reason, retried with backoff — not as an unexpected error
 * retried with none.
 */
import { describe, expect, it, vi } from 'vitest';

vi.mock('../../../lambda/adapters/s3PayloadStore.js', () => {
  throw Object.assign(new Error("Cannot find module '/var/task/chunks/s3PayloadStore-XXXX.mjs'"), { code: 'ERR_MODULE_NOT_FOUND' });
});

const { createWorker } = await import('../../../lambda/handlers/createWorker.js');
const { readSettings } = await import('../../../lambda/worker/settings.js');
const { resolveBody } = await import('../../../lambda/worker/payload.js');
const { TransientDeliveryError } = await import('../../../lambda/core/errors.js');
const { processBatch } = await import('../../../lambda/worker/processBatch.js');

const env = {
  CONFIG_TABLE_NAME: 'c',
  IDEMPOTENCY_TABLE_NAME: 'i',
  DEAD_LETTER_QUEUE_URL: 'http://127.0.0.1:9/000000000000/dlq',
  QUEUE_URL: 'http://127.0.0.1:9/000000000000/q',
  PAYLOAD_BUCKET_NAME: 'payloads',
  SECRET_PREFIX: 'mailrelay/',
};
const pointer = '["software.amazon.payloadoffloading.PayloadS3Pointer",{"s3BucketName":"payloads","s3Key":"k1"}]';

describe('a pointer message when the S3 chunk cannot load', () => {
  const logs: string[] = [];
  const logger = {
    debug: () => undefined,
    info: () => undefined,
    warn: (message: string, fields?: { reason?: string }) => logs.push(`warn ${message} ${fields?.reason ?? ''}`),
    error: (message: string) => logs.push(`error ${message}`),
  };
  const worker = createWorker({
    settings: readSettings(env),
    logger,
    metrics: { addMetric: () => undefined },
    clientConfig: { region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' }, maxAttempts: 1 },
  });
  const record = (id: string) => ({ messageId: id, receiptHandle: 'r', body: pointer, attributes: { ApproximateReceiveCount: '1', SentTimestamp: String(Date.now()) }, messageAttributes: {} });

  it('is a transient aws-error naming the S3 client, for every message (that a failed load is not kept: test/unit/adapters/lazy.test.ts)', async () => {
    for (const id of ['m1', 'm2']) {
      const error = await resolveBody(record(id) as never, worker as never).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(TransientDeliveryError);
      expect((error as InstanceType<typeof TransientDeliveryError>).reason).toBe('aws-error');
      // vitest replaces the factory's error with its own message; the cause is the failed import.
      expect((error as Error).message).toMatch(/^could not load the S3 client: /);
      expect((error as Error).cause).toBeInstanceOf(Error);
    }
  });

  it('processBatch retries the record as an unreadable payload, not as an unexpected failure', async () => {
    logs.length = 0;
    const result = await processBatch([record('m3') as never], { ...worker, claimLeaseMs: 60_000 }, { remainingTimeMs: () => 60_000, minRemainingMs: 1_000, concurrency: 1 });
    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: 'm3' }] });
    expect(logs).toEqual(['warn payload not readable; will retry aws-error']);
  });
});
