/**
 * A raw RFC 5322 message (docs/design.md §1): line endings normalised to CRLF, the envelope taken from
 * `envelope` or else from the message's own From / To / Cc / Bcc, the Bcc and Resent-Bcc fields
 * removed (they must never reach a recipient), no line longer than 998 octets (RFC 5322 §2.1.1:
 * relays may break or refuse longer ones, and some truncate them silently) and a Message-ID present.
 */
import { parseMailbox, parseMailboxList } from './addresses.js';
import { MAX_LINE_OCTETS } from './constants.js';
import { isMessageId, MESSAGE_ID_REQUIREMENT } from './messageId.js';
import { normaliseLineEndings, splitRawMessage, type RawHeaderField } from './rawHeaders.js';
import type { MailAddress } from './types.js';

/** The `envelope` field beside `raw`, already parsed; each part optional. */
export interface RawEnvelopeInput {
  readonly from?: MailAddress | undefined;
  readonly to?: readonly MailAddress[] | undefined;
}

export interface ParsedRawMessage {
  /** The author: the From header, else `envelope.from`. */
  readonly sender: MailAddress;
  /** MAIL FROM: `envelope.from`, else the From header. */
  readonly envelopeFrom: MailAddress;
  /** RCPT TO, in order, not yet de-duplicated. */
  readonly recipients: readonly MailAddress[];
  /** Where the recipients came from, so that a problem with them names the right field. */
  readonly recipientsFrom: 'envelope' | 'headers';
  /** The message's own Message-ID, if it has one. */
  readonly messageId?: string | undefined;
  /** Header lines (folded lines kept as they are), Bcc removed. */
  readonly headerLines: readonly string[];
  readonly body: string;
}

export type RawResult = { readonly ok: true; readonly message: ParsedRawMessage } | { readonly ok: false; readonly reasons: readonly string[] };

/** Fields that hold blind recipients: removed before sending (RFC 5322 §3.6.3, §3.6.6). */
const BLIND_FIELDS = ['bcc', 'resent-bcc'];

/** Body lines over the limit reported one by one; the rest only counted. */
const MAX_LONG_LINES_REPORTED = 5;

/** Fields that RFC 5322 §3.6 allows at most once and that this parser reads. */
const SINGLE_FIELDS = ['from', 'to', 'cc', 'bcc', 'message-id'];

/**
 * Read a raw message and its envelope. Every reason refers to the `raw` field.
 * @example
 * parseRawMessage('From: a@acme.example\nTo: b@example.net\n\nHi\n', {});
 * // ok; recipients [b@example.net], headerLines ['From: a@acme.example', 'To: b@example.net'], body 'Hi\r\n'
 */
export function parseRawMessage(text: string, envelope: RawEnvelopeInput): RawResult {
  const split = splitRawMessage(normaliseLineEndings(text));
  if (!split.ok) return split;
  const { fields, body } = split.parts;
  const reasons: string[] = [];
  const byName = (name: string) => fields.filter((field) => field.name.toLowerCase() === name);

  for (const name of SINGLE_FIELDS) {
    const count = byName(name).length;
    if (count > 1) reasons.push(`has ${count} ${displayName(byName(name))} header fields (RFC 5322 allows one)`);
  }

  let author: MailAddress | undefined;
  const fromField = byName('from')[0];
  if (fromField) {
    const from = parseMailbox(fromField.value);
    if (from.ok) author = from.address;
    else reasons.push(`${fromField.name} header: ${from.reason}`);
  } else if (envelope.from === undefined) {
    reasons.push('has no From header field: add one, or give envelope.from');
  }

  const recipients: MailAddress[] = [];
  if (envelope.to === undefined) {
    for (const field of fields.filter((candidate) => ['to', 'cc', 'bcc'].includes(candidate.name.toLowerCase()))) {
      const list = parseMailboxList(field.value);
      // Loops, not push(...list): a 1 MiB header can hold more addresses than a call has arguments.
      if (list.ok) for (const address of list.addresses) recipients.push(address);
      else for (const reason of list.reasons) reasons.push(`${field.name} header: ${reason}`);
    }
  } else {
    for (const address of envelope.to) recipients.push(address);
  }

  let messageId: string | undefined;
  const messageIdField = byName('message-id')[0];
  if (messageIdField) {
    messageId = messageIdField.value.replace(/^[ \t]+|[ \t]+$/g, '');
    if (!isMessageId(messageId)) reasons.push(`${messageIdField.name} header ${MESSAGE_ID_REQUIREMENT}`);
  }

  longLineReasons(body, split.parts.lineCount + 2, reasons);

  const sender = author ?? envelope.from;
  const envelopeFrom = envelope.from ?? author;
  if (reasons.length > 0 || sender === undefined || envelopeFrom === undefined) return { ok: false, reasons };
  return {
    ok: true,
    message: {
      sender,
      envelopeFrom,
      recipients,
      recipientsFrom: envelope.to === undefined ? 'headers' : 'envelope',
      messageId,
      headerLines: fields.filter((field) => !BLIND_FIELDS.includes(field.name.toLowerCase())).flatMap((field) => field.lines),
      body,
    },
  };
}

/** The bytes to send: CRLF throughout, and `Message-ID: <insertMessageId>` added when given. */
export function assembleRawMessage(message: ParsedRawMessage, insertMessageId?: string): Buffer {
  const lines = insertMessageId === undefined ? message.headerLines : [...message.headerLines, `Message-ID: ${insertMessageId}`];
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n${message.body}`, 'utf8');
}

/**
 * Report body lines over {@link MAX_LINE_OCTETS} octets by their line number in the message.
 * @param firstLine - the line number of the body's first line (header lines + blank line + 1).
 */
function longLineReasons(body: string, firstLine: number, reasons: string[]): void {
  let long = 0;
  let start = 0;
  for (let line = firstLine; start <= body.length; line++) {
    const end = body.indexOf('\r\n', start);
    const stop = end < 0 ? body.length : end;
    // Characters first: a line short in UTF-16 units cannot exceed the limit in octets by more than 3x.
    if (stop - start > MAX_LINE_OCTETS / 3) {
      const octets = Buffer.byteLength(body.slice(start, stop));
      if (octets > MAX_LINE_OCTETS && ++long <= MAX_LONG_LINES_REPORTED) {
        reasons.push(`line ${line} is longer than ${MAX_LINE_OCTETS} octets (${octets.toLocaleString('en-US')}): wrap it, or encode the body (quoted-printable or base64)`);
      }
    }
    if (end < 0) break;
    start = end + 2;
  }
  if (long > MAX_LONG_LINES_REPORTED) reasons.push(`has ${long - MAX_LONG_LINES_REPORTED} more lines longer than ${MAX_LINE_OCTETS} octets, not listed`);
}

function displayName(fields: readonly RawHeaderField[]): string {
  return fields[0]?.name ?? '';
}
