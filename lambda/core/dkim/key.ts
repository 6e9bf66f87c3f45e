/**
 * DKIM keys (docs/design.md §2 `dkim`): parse a private key read from a keysource, and derive
 * the DNS TXT record that publishes its public half. Key material never reaches an error
 * message or a log line: errors name the keysource, not its value.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { PermanentDeliveryError } from '../errors.js';

/** RFC 8301 §3.2: signers must use RSA keys of at least 1024 bits (2048 is what to publish). */
export const MIN_RSA_BITS = 1024;

/** Why a PEM key cannot sign (never quoting it), or undefined when it can. */
export function dkimKeyProblem(pem: string): string | undefined {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    return 'is not a PEM private key (PKCS#1 "BEGIN RSA PRIVATE KEY" or PKCS#8 "BEGIN PRIVATE KEY", unencrypted)';
  }
  if (key.asymmetricKeyType !== 'rsa') {
    return `is a ${key.asymmetricKeyType ?? 'non-RSA'} key; the signer signs rsa-sha256 only and needs an RSA key`;
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_RSA_BITS) return `is a ${bits}-bit RSA key; DKIM needs at least ${MIN_RSA_BITS} bits (RFC 8301), 2048 recommended`;
  return undefined;
}

/**
 * @param where the keysource, as `describeKeysource` prints it (never the key).
 * @throws PermanentDeliveryError (`dkim-key-invalid`): a configuration error; another attempt cannot fix it.
 */
export function parseDkimKey(pem: string, where: string): KeyObject {
  const problem = dkimKeyProblem(pem);
  if (problem !== undefined) throw new PermanentDeliveryError(`dkim.privateKey (${where}) ${problem}`, { reason: 'dkim-key-invalid' });
  return createPrivateKey({ key: pem, format: 'pem' });
}

export interface DkimDnsRecord {
  /** `<selector>._domainkey.<domain>` */
  readonly name: string;
  /** `v=DKIM1; k=rsa; p=<base64 SubjectPublicKeyInfo>` */
  readonly value: string;
  /** The value cut into strings of at most 255 octets, as one TXT record must carry it (RFC 7208 §3.3 style). */
  readonly strings: readonly string[];
}

/** The TXT record receivers look the signature up by (RFC 6376 §3.6.1), derived from the private key. */
export function dkimDnsRecord(privateKey: KeyObject, domain: string, selector: string): DkimDnsRecord {
  const spki = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  const value = `v=DKIM1; k=rsa; p=${spki.toString('base64')}`;
  const strings: string[] = [];
  for (let i = 0; i < value.length; i += 255) strings.push(value.slice(i, i + 255));
  return { name: `${selector}._domainkey.${domain}`, value, strings };
}
