/** S3PayloadStore with aws-sdk-client-mock: what each S3 failure becomes, and the size limit. */
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { S3PayloadStore } from '../../../lambda/adapters/s3PayloadStore.js';
import { PermanentDeliveryError, TransientDeliveryError } from '../../../lambda/core/errors.js';

const awsError = (name: string, status = 400) => Object.assign(new Error(`${name} happened`), { name, $metadata: { httpStatusCode: status } });
/** The part of the SDK's stream mixin the adapter uses. */
const stream = (text: string) => ({ transformToByteArray: async () => new Uint8Array(Buffer.from(text, 'utf8')), destroy: () => undefined }) as never;

describe('S3PayloadStore', () => {
  const client = new S3Client({ region: 'us-east-1' });
  const mock = mockClient(client);
  const store = new S3PayloadStore({ client });
  beforeEach(() => mock.reset());

  it('returns the object as UTF-8', async () => {
    mock.on(GetObjectCommand, { Bucket: 'b', Key: 'k' }).resolves({ Body: stream('{"to":["ä@example.net"]}'), ContentLength: 26 });
    expect(await store.read('b', 'k', 100)).toEqual({ kind: 'found', body: '{"to":["ä@example.net"]}' });
  });

  it('does not read an object whose Content-Length is over the limit', async () => {
    mock.on(GetObjectCommand).resolves({ Body: stream('x'.repeat(10)), ContentLength: 11 });
    expect(await store.read('b', 'k', 10)).toEqual({ kind: 'too-large', bytes: 11 });
  });

  it('counts the bytes when S3 gives no Content-Length', async () => {
    mock.on(GetObjectCommand).resolves({ Body: stream('x'.repeat(11)) });
    expect(await store.read('b', 'k', 10)).toEqual({ kind: 'too-large', bytes: 11 });
  });

  it.each([
    ['NoSuchKey', 404, PermanentDeliveryError, 'payload-missing', /s3:\/\/b\/k: NoSuchKey.*does not exist/],
    ['AccessDenied', 403, PermanentDeliveryError, 'payload-missing', /AccessDenied for a missing object/],
    ['NoSuchBucket', 404, PermanentDeliveryError, 'config-error', /NoSuchBucket/],
    ['SlowDown', 503, TransientDeliveryError, 'aws-throttled', /SlowDown/],
    ['InternalError', 500, TransientDeliveryError, 'aws-error', /InternalError/],
    ['TimeoutError', 0, TransientDeliveryError, 'aws-error', /TimeoutError/],
  ])('%s (%i) → %s %s', async (name, status, type, reason, detail) => {
    mock.on(GetObjectCommand).rejects(awsError(name, status));
    const error = await store.read('b', 'k', 10).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(type);
    expect(error).toMatchObject({ reason, message: expect.stringMatching(detail) });
  });

  it('sizes an object with HeadObject (for a pointer without ExtendedPayloadSize); a missing one is payload-missing', async () => {
    mock.on(HeadObjectCommand, { Bucket: 'b', Key: 'k' }).resolves({ ContentLength: 7_000_000 });
    expect(await store.size('b', 'k')).toBe(7_000_000);
    expect(mock.commandCalls(GetObjectCommand)).toHaveLength(0);
    // A HEAD answer has no body: the SDK names a 404 NotFound and a 403 Unknown (as it does against local/s3Endpoint.ts).
    for (const [name, status, shown] of [['NotFound', 404, 'NotFound'], ['Unknown', 403, 'Forbidden']] as const) {
      mock.on(HeadObjectCommand).rejects(awsError(name, status));
      await expect(store.size('b', 'k')).rejects.toMatchObject({ reason: 'payload-missing', message: expect.stringMatching(new RegExp(`size of the payload s3://b/k: ${shown}`)) });
    }
    mock.on(HeadObjectCommand).rejects(awsError('SlowDown', 503));
    await expect(store.size('b', 'k')).rejects.toBeInstanceOf(TransientDeliveryError);
  });

  it('deletes the object; a failure is classified the same way', async () => {
    mock.on(DeleteObjectCommand, { Bucket: 'b', Key: 'k' }).resolves({});
    await store.delete('b', 'k');
    expect(mock.commandCalls(DeleteObjectCommand)).toHaveLength(1);
    mock.on(DeleteObjectCommand).rejects(awsError('SlowDown', 503));
    await expect(store.delete('b', 'k')).rejects.toBeInstanceOf(TransientDeliveryError);
  });
});
