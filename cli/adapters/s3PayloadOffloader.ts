/**
 * The producer side of large messages (docs/payloads.md): writes a queue body to the payload
 * bucket under a random UUID key, as the SQS Extended Client libraries do, and returns the
 * pointer. `mailrelay enqueue` and `mailrelay gateway` both offload through it; the pointer
 * message they then send is `pointerMessage` of lambda/core/payloads.ts.
 */
import { randomUUID } from 'node:crypto';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { PayloadPointer } from '../../lambda/core/payloads.js';

export class S3PayloadOffloader {
  public constructor(private readonly options: { readonly client: Pick<S3Client, 'send'>; readonly bucket: string }) {}

  public get bucket(): string {
    return this.options.bucket;
  }

  /**
   * PutObject of the whole JSON body; resolves once S3 has stored it (S3 answers a PUT only then).
   * @throws the SDK's error when it did not (the caller sends no pointer).
   */
  public async put(body: string): Promise<PayloadPointer> {
    const key = randomUUID();
    await this.options.client.send(new PutObjectCommand({ Bucket: this.options.bucket, Key: key, Body: Buffer.from(body, 'utf8'), ContentType: 'application/json' }));
    return { bucket: this.options.bucket, key };
  }
}
