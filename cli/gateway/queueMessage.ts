/**
 * Turns one accepted submission into the queue message of docs/design.md §1: `raw` (with a
 * `Received:` header on top), `envelope` from MAIL FROM / RCPT TO, the submitter's binding (never
 * the message's headers) and `submission` (§3.1). The body is validated exactly as the worker will
 * validate it, so the gateway never answers 250 for a message the worker would dead-letter as invalid.
 */
import { randomUUID } from 'node:crypto';
import { MessageValidationError, formatIssues } from '../../lambda/core/errors.js';
import { MAX_BODY_BYTES } from '../../lambda/core/message/constants.js';
import { parseQueueMessage } from '../../lambda/core/message/index.js';
import type { Submission } from '../../lambda/core/message/types.js';

export interface ReceivedFields {
  /** The name the client gave in EHLO. */
  readonly heloName: string;
  readonly clientAddress: string;
  /** This gateway's host name. */
  readonly serverName: string;
  /** e.g. `TLSv1.3`, and the cipher's name. */
  readonly tlsProtocol?: string | undefined;
  readonly tlsCipher?: string | undefined;
  readonly sessionId: string;
  readonly receivedAt: Date;
}

/**
 * RFC 5321 §4.4 trace field. `ESMTPSA` (RFC 3848): ESMTP with TLS and AUTH. Folded so that no
 * line comes near 998 octets.
 * @example
 * receivedHeader({ heloName: 'app.example', clientAddress: '192.0.2.1', serverName: 'gw.example', sessionId: 'abc', receivedAt: new Date() });
 * // 'Received: from app.example ([192.0.2.1])\r\n\tby gw.example (mailrelay gateway) with ESMTPSA id abc;\r\n\tFri, 04 Dec 2026 21:00:00 +0000\r\n'
 */
export function receivedHeader(fields: ReceivedFields): string {
  const tls = fields.tlsProtocol ? `\r\n\t(using ${fields.tlsProtocol}${fields.tlsCipher ? ` with cipher ${fields.tlsCipher}` : ''})` : '';
  const date = fields.receivedAt.toUTCString().replace(/GMT$/, '+0000');
  return `Received: from ${fields.heloName} ([${fields.clientAddress}])${tls}\r\n\tby ${fields.serverName} (mailrelay gateway) with ESMTPSA id ${fields.sessionId};\r\n\t${date}\r\n`;
}

export type QueueMessageResult =
  | { readonly ok: true; readonly body: string; readonly idempotencyKey: string }
  | { readonly ok: false; readonly code: 552 | 554; readonly message: string; readonly reason: 'not-utf8' | 'invalid-message' | 'too-large' };

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Longest reason text put in an SMTP reply line. */
const MAX_REPLY_DETAIL_CHARS = 400;

export function buildQueueMessage(input: {
  readonly data: Buffer;
  readonly received: string;
  readonly envelope: { readonly from: string; readonly to: readonly string[] };
  readonly binding: string;
  readonly submission: Submission;
  /**
   * The largest JSON body: the SQS limit, or the worker's 40 MiB S3 pointer limit when the
   * gateway offloads large bodies to the payload bucket.  @default MAX_BODY_BYTES (1 MiB)
   */
  readonly maxBodyBytes?: number;
}): QueueMessageResult {
  const maxBodyBytes = input.maxBodyBytes ?? MAX_BODY_BYTES;
  let text: string;
  try {
    text = utf8.decode(input.data);
  } catch {
    // The queue message is JSON: `raw` is a string, so 8-bit content must be UTF-8.
    return { ok: false, code: 554, reason: 'not-utf8', message: 'Message refused: 8-bit content must be UTF-8 (or encode it: quoted-printable, base64)' };
  }
  const idempotencyKey = `gateway-${randomUUID()}`;
  const body = JSON.stringify({
    idempotencyKey,
    raw: input.received + text,
    envelope: { from: input.envelope.from, to: input.envelope.to },
    binding: input.binding,
    submission: input.submission,
  });
  if (Buffer.byteLength(body, 'utf8') > maxBodyBytes) {
    const limit = maxBodyBytes === MAX_BODY_BYTES ? `SQS takes ${MAX_BODY_BYTES} bytes` : `the S3 payload limit is ${maxBodyBytes} bytes`;
    return { ok: false, code: 552, reason: 'too-large', message: `Message too large for the queue once encoded (${limit})` };
  }
  try {
    parseQueueMessage(body, { fallbackIdempotencyKey: idempotencyKey, maxBodyBytes });
  } catch (error) {
    if (!(error instanceof MessageValidationError)) throw error;
    const detail = formatIssues(error.issues);
    const short = detail.length > MAX_REPLY_DETAIL_CHARS ? `${detail.slice(0, MAX_REPLY_DETAIL_CHARS)}...` : detail;
    return { ok: false, code: 554, reason: 'invalid-message', message: `Message refused: ${short}` };
  }
  return { ok: true, body, idempotencyKey };
}
