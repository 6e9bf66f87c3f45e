/** S3PayloadStore with aws-sdk-client-mock: what each S3 failure becomes, and the size limit. */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
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
    mock.on(HeadObjectCommand).rejects(awsError('SlowDown', 503));
    await expect(store.size('b', 'k')).rejects.toBeInstanceOf(TransientDeliveryError);
    expect(mock.commandCalls(GetObjectCommand)).toHaveLength(0);
  });

  // A HEAD answer has no body: the SDK names a 404 NotFound and a 403 Unknown (as it does against
  // local/s3Endpoint.ts), whatever S3's code was. The GET, whose reply names it, decides.
  it.each([
    ['NotFound', 404, 'NoSuchKey', PermanentDeliveryError, 'payload-missing'],
    ['Unknown', 403, 'AccessDenied', PermanentDeliveryError, 'payload-missing'],
    ['Unknown', 403, 'RequestTimeTooSkewed', TransientDeliveryError, 'aws-throttled'],
    ['NotFound', 404, 'NoSuchBucket', PermanentDeliveryError, 'config-error'],
  ])('a body-less HEAD %s (%i) is decided by the GET (%s)', async (headName, status, getName, type, reason) => {
    mock.on(HeadObjectCommand).rejects(awsError(headName, status));
    mock.on(GetObjectCommand).rejects(awsError(getName, status));
    const error = await store.size('b', 'k').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(type);
    expect(error).toMatchObject({ reason, message: expect.stringMatching(new RegExp(`reading the payload s3://b/k: ${getName}`)) });
  });

  it('a HEAD 403 whose GET succeeds sizes the object from the GET without reading its body', async () => {
    let destroyed = false;
    mock.on(HeadObjectCommand).rejects(awsError('Unknown', 403));
    mock.on(GetObjectCommand).resolves({ Body: { transformToByteArray: async () => { throw new Error('read'); }, destroy: () => void (destroyed = true) } as never, ContentLength: 1234 });
    expect(await store.size('b', 'k')).toBe(1234);
    expect(destroyed).toBe(true);
  });

  it('deletes the object; a failure is classified the same way', async () => {
    mock.on(DeleteObjectCommand, { Bucket: 'b', Key: 'k' }).resolves({});
    await store.delete('b', 'k');
    expect(mock.commandCalls(DeleteObjectCommand)).toHaveLength(1);
    mock.on(DeleteObjectCommand).rejects(awsError('SlowDown', 503));
    await expect(store.delete('b', 'k')).rejects.toBeInstanceOf(TransientDeliveryError);
  });
});

describe('S3PayloadStore against an S3 that answers every request with an error (HEAD replies carry no body, as S3 does)', () => {
  /** Every request answers `status`; a GET's body names `code`, a HEAD's reply has none. */
  async function s3Answering(status: number, code: string) {
    const server = createServer((req, res) => {
      req.resume();
      res.writeHead(status, { 'content-type': 'application/xml', 'x-amz-request-id': 'r1' });
      res.end(req.method === 'HEAD' ? undefined : `<?xml version="1.0"?><Error><Code>${code}</Code><Message>m</Message></Error>`);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const client = new S3Client({ region: 'us-east-1', endpoint: `http://127.0.0.1:${port}`, forcePathStyle: true, credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 1 });
    return { store: new S3PayloadStore({ client }), close: () => { client.destroy(); server.close(); } };
  }
  const fate = (error: unknown) => `${(error as Error).constructor.name}/${(error as { reason?: string }).reason}`;

  it.each([
    [403, 'RequestTimeTooSkewed', 'TransientDeliveryError/aws-throttled'],
    [403, 'InvalidAccessKeyId'],
    [403, 'SignatureDoesNotMatch'],
    [403, 'AccessDenied', 'PermanentDeliveryError/payload-missing'],
    [400, 'ExpiredToken'],
    [404, 'NoSuchBucket', 'PermanentDeliveryError/config-error'],
    [404, 'NoSuchKey', 'PermanentDeliveryError/payload-missing'],
  ])('HEAD (size) and GET (read) end a %i %s the same way', async (status, code, expected?: string) => {
    const { store, close } = await s3Answering(status, code);
    try {
      const get = await store.read('bucket', 'k', 100).catch((e: unknown) => e);
      const head = await store.size('bucket', 'k').catch((e: unknown) => e);
      expect(fate(head)).toBe(fate(get));
      if (expected) expect(fate(head)).toBe(expected);
    } finally {
      close();
    }
  });
});
