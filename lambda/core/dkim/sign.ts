/**
 * Signs the exact bytes a relay will receive (docs/design.md §2 `dkim`): the composed message,
 * after the worker's own headers are set, structured or raw alike. The signature is nodemailer's
 * DKIM signer (relaxed/relaxed, rsa-sha256), applied to the finished buffer; the key is read
 * through the SecretSource port, so it is cached like any secret.
 */
import type { KeyObject } from 'node:crypto';
import DKIM from 'nodemailer/lib/dkim';
import type { EffectiveDkim } from '../config/resolve.js';
import { isDeliveryError, PermanentDeliveryError, TransientDeliveryError } from '../errors.js';
import { describeKeysource, resolveKeysource } from '../keysources.js';
import type { SecretSource } from '../ports.js';
import { parseDkimKey } from './key.js';

/**
 * Read and parse the signer's key.
 * @throws PermanentDeliveryError (`dkim-key-invalid`) when the keysource is missing, lacks its
 *   field, or holds no usable key; TransientDeliveryError (`secret-unavailable`) when the secret
 *   store cannot be reached (AWS throttling, a network error): mail waits, it is not dead-lettered.
 */
export async function loadDkimKey(dkim: Pick<EffectiveDkim, 'privateKey'>, secrets: SecretSource): Promise<KeyObject> {
  const where = describeKeysource(dkim.privateKey);
  let pem: string;
  try {
    pem = (await resolveKeysource(dkim.privateKey, secrets)).secret;
  } catch (error) {
    if (error instanceof PermanentDeliveryError) {
      throw new PermanentDeliveryError(`dkim.privateKey cannot be read: ${error.message}`, { reason: 'dkim-key-invalid' }, { cause: error });
    }
    if (isDeliveryError(error)) throw error;
    throw new TransientDeliveryError(`could not read dkim.privateKey (${where}): ${(error as Error).message ?? String(error)}`, { reason: 'secret-unavailable' }, { cause: error });
  }
  return parseDkimKey(pem, where);
}

/**
 * @returns the message with a `DKIM-Signature` field prepended; the rest of the bytes unchanged.
 * @throws PermanentDeliveryError (`dkim-key-invalid`) when the signer produced no signature.
 */
export async function signMessage(raw: Buffer, dkim: EffectiveDkim, key: KeyObject): Promise<Buffer> {
  const signer = new DKIM({
    domainName: dkim.domain,
    keySelector: dkim.selector,
    privateKey: key,
    headerFieldNames: dkim.headers.join(':'),
  });
  const chunks: Buffer[] = [];
  const stream = signer.sign(raw);
  await new Promise<void>((resolve, reject) => {
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.once('end', resolve);
    stream.once('error', reject);
  });
  const signed = Buffer.concat(chunks);
  // nodemailer sends the message unsigned when the key cannot sign: never let that through.
  if (!signed.subarray(0, 15).equals(Buffer.from('DKIM-Signature:'))) {
    throw new PermanentDeliveryError(`dkim: the key of ${describeKeysource(dkim.privateKey)} produced no signature`, { reason: 'dkim-key-invalid' });
  }
  return signed;
}

/**
 * Signs a message for each distinct signer its routes resolve to, once each: a message whose
 * routes share a signer (or have none) is signed (or passed) once.
 */
export class MessageSigner {
  private readonly signed = new Map<string, Promise<Buffer>>();

  public constructor(
    private readonly raw: Buffer,
    private readonly secrets: SecretSource,
  ) {}

  public bytesFor(dkim: EffectiveDkim | undefined): Promise<Buffer> {
    if (!dkim) return Promise.resolve(this.raw);
    const id = JSON.stringify([dkim.domain, dkim.selector, dkim.privateKey, dkim.algorithm, dkim.headers]);
    let bytes = this.signed.get(id);
    if (!bytes) {
      bytes = loadDkimKey(dkim, this.secrets).then((key) => signMessage(this.raw, dkim, key));
      // Rejections are read per route; keep the shared promise from being reported as unhandled.
      bytes.catch(() => undefined);
      this.signed.set(id, bytes);
    }
    return bytes;
  }
}
