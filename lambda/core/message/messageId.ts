/**
 * The Message-ID header (RFC 5322 §3.6.4): the message's own, or one derived from the
 * idempotency key, so that every attempt to send a message carries the same Message-ID and
 * receivers can recognise a duplicate if one ever slips through.
 */
import { createHash } from 'node:crypto';
import { MAX_LINE_OCTETS } from './constants.js';

const ATEXT = "[A-Za-z0-9!#$%&'*+\\-/=?^_`{|}~]";
const DOT_ATOM_TEXT = `${ATEXT}+(?:\\.${ATEXT}+)*`;
/** `"<" id-left "@" id-right ">"`, id-right a dot-atom or a no-fold-literal (`[...]`). */
const MSG_ID = new RegExp(`^<${DOT_ATOM_TEXT}@(?:${DOT_ATOM_TEXT}|\\[[\\x21-\\x5A\\x5E-\\x7E]*\\])>$`);
/** So that `Message-ID: <...>` fits on one line. */
const MAX_MESSAGE_ID_CHARS = MAX_LINE_OCTETS - 'Message-ID: '.length;

/** Whether a value is exactly one msg-id, `<id@domain>`, with no comments or folding. */
export function isMessageId(value: string): boolean {
  return value.length <= MAX_MESSAGE_ID_CHARS && MSG_ID.test(value);
}

/** Why a Message-ID is refused: shared by `headers.Message-ID` and the raw header. */
export const MESSAGE_ID_REQUIREMENT = `must be one <id@domain> (RFC 5322 msg-id, ASCII, at most ${MAX_MESSAGE_ID_CHARS} characters)`;

/**
 * A Message-ID that depends only on the idempotency key and the sender's domain: the SHA-256 of
 * the key in hex, at the sender's domain (A-label), so it is the same on every attempt and
 * never reveals the key itself.
 * @example
 * deriveMessageId('order-1234-receipt', 'acme.example'); // '<3f1c…e9@acme.example>'
 */
export function deriveMessageId(idempotencyKey: string, senderDomain: string): string {
  const hash = createHash('sha256').update(idempotencyKey, 'utf8').digest('hex');
  return `<${hash}@${senderDomain}>`;
}
