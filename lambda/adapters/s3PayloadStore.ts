/**
 * PayloadStore on S3: reads and deletes the objects behind SQS Extended Client pointers
 * (docs/design.md §1 "Large messages"). The function may only GetObject and DeleteObject on the
 * payload bucket, so S3 answers a missing key with 403 AccessDenied rather than 404 NoSuchKey
 * (it hides what a caller without s3:ListBucket may not see): both are `payload-missing`.
 */
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { PermanentDeliveryError, TransientDeliveryError } from '../core/errors.js';
import type { PayloadRead, PayloadStore } from '../core/ports.js';
import { awsErrorName, classifyAwsError } from './awsErrors.js';

/** S3's throttling replies (503 SlowDown) besides the SDK's generic names. */
const S3_THROTTLING = new Set(['SlowDown', 'RequestTimeTooSkewed']);

export class S3PayloadStore implements PayloadStore {
  public constructor(private readonly options: { readonly client: Pick<S3Client, 'send'> }) {}

  /** A store with its own client: what the worker imports on its first pointer message (lambda/adapters/lazy.ts). */
  public static create(config: S3ClientConfig): S3PayloadStore {
    return new S3PayloadStore({ client: new S3Client(config) });
  }

  public async read(bucket: string, key: string, maxBytes: number): Promise<PayloadRead> {
    const where = `reading the payload s3://${bucket}/${key}`;
    try {
      const response = await this.options.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const body = response.Body;
      if (!body) throw new TransientDeliveryError(`${where}: S3 returned no body`, { reason: 'aws-error' });
      if (response.ContentLength !== undefined && response.ContentLength > maxBytes) {
        // Not read: the connection is dropped rather than 40 MiB and more downloaded for nothing.
        (body as { destroy?: () => void }).destroy?.();
        return { kind: 'too-large', bytes: response.ContentLength };
      }
      const bytes = await body.transformToByteArray();
      if (bytes.byteLength > maxBytes) return { kind: 'too-large', bytes: bytes.byteLength };
      return { kind: 'found', body: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8') };
    } catch (error) {
      throw classifyS3Error(error, where);
    }
  }

  /**
   * The object's size, from HeadObject. A HEAD error reply has no body, so a 4xx cannot say why:
   * a 403 may be a missing key (AccessDenied), a skewed clock (RequestTimeTooSkewed, transient)
   * or bad credentials; a 404 a missing key or a missing bucket (config-error). Such a reply is
   * not classified here: a GetObject that reads nothing (limit 0: the body is dropped once its
   * Content-Length is known) asks again, and its error, which names its code, decides — so a
   * record sized by HEAD ends exactly as one read by GET would. 5xx, throttling and network
   * errors are classified as they are.
   */
  public async size(bucket: string, key: string): Promise<number> {
    const where = `reading the size of the payload s3://${bucket}/${key}`;
    try {
      const response = await this.options.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      if (response.ContentLength === undefined) throw new TransientDeliveryError(`${where}: S3 returned no Content-Length`, { reason: 'aws-error' });
      return response.ContentLength;
    } catch (error) {
      const status = (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
      if (status === undefined || status < 400 || status >= 500) throw classifyS3Error(error, where);
    }
    const asked = await this.read(bucket, key, 0);
    return asked.kind === 'too-large' ? asked.bytes : Buffer.byteLength(asked.body, 'utf8');
  }

  public async delete(bucket: string, key: string): Promise<void> {
    try {
      await this.options.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    } catch (error) {
      throw classifyS3Error(error, `deleting the payload s3://${bucket}/${key}`);
    }
  }
}

/** NoSuchKey/AccessDenied → permanent `payload-missing`; throttling, 5xx and network → transient. */
export function classifyS3Error(error: unknown, what: string): PermanentDeliveryError | TransientDeliveryError {
  if (error instanceof PermanentDeliveryError || error instanceof TransientDeliveryError) return error;
  // A HEAD answer has no body, so the SDK cannot name the error: a 404 is `NotFound`, a 403 `Unknown`.
  const status = (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
  const raw = awsErrorName(error);
  const name = raw === 'Unknown' && status === 403 ? 'Forbidden' : raw;
  const text = (error as Error)?.message ?? String(error);
  const message = text === 'UnknownError' ? `${what}: ${name}` : `${what}: ${name}: ${text}`;
  if (name === 'NoSuchKey' || name === 'NotFound') {
    return new PermanentDeliveryError(`${message} (the object does not exist: never written, expired by the bucket's lifecycle rule, or deleted after an earlier delivery)`, { reason: 'payload-missing' }, { cause: error });
  }
  if (name === 'AccessDenied' || name === 'AccessDeniedException' || name === 'Forbidden') {
    return new PermanentDeliveryError(`${message} (S3 says AccessDenied for a missing object to a reader that may not list the bucket; else the bucket policy or its KMS key refuses the read)`, { reason: 'payload-missing' }, { cause: error });
  }
  if (name === 'NoSuchBucket') return new PermanentDeliveryError(message, { reason: 'config-error' }, { cause: error });
  if (S3_THROTTLING.has(name)) return new TransientDeliveryError(message, { reason: 'aws-throttled' }, { cause: error });
  return classifyAwsError(error, what);
}
