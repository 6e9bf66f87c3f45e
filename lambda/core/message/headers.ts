/**
 * Custom header fields of a structured message (docs/design.md §1.1). The worker owns every field
 * that decides who the message is from, who receives it, how it is structured or how it
 * travelled; receivers add, and trust, the fields that report what the path checked
 * (Authentication-Results, ARC-*, Received-SPF …), so a sender may never write them. A producer
 * may add anything else, and `Message-ID`.
 *
 * A long value is folded at whitespace by nodemailer (76-column lines), never refused; only a
 * word that cannot fit one 998-octet line (RFC 5322 §2.1.1) is an error. Words with non-ASCII
 * characters become encoded words, which nodemailer splits, so only ASCII words are measured.
 */
import * as z from 'zod/mini';
import { MAX_HEADER_VALUE_CHARS, MAX_HEADERS, MAX_LINE_OCTETS } from './constants.js';
import { isMessageId, MESSAGE_ID_REQUIREMENT } from './messageId.js';
import { stringMapSchema } from './stringMap.js';
import { headerSafeProblems } from './text.js';

/** RFC 5322 §3.6.8 field-name: printable ASCII except ":" (so no space either). */
const FIELD_NAME = /^[\x21-\x39\x3B-\x7E]+$/;

/** Worker-owned fields (lower-case), with the message field to use instead where there is one. */
const OWNED_FIELDS: ReadonlyMap<string, string | undefined> = new Map([
  ['from', 'use "from"'],
  ['to', 'use "to"'],
  ['cc', 'use "cc"'],
  ['bcc', 'use "bcc"'],
  ['reply-to', 'use "replyTo"'],
  ['subject', 'use "subject"'],
  ['sender', undefined],
  ['date', undefined],
  ['mime-version', undefined],
  ['return-path', 'use envelope.from for the bounce address'],
  ['received', undefined],
  ['dkim-signature', undefined],
]);
const OWNED_PREFIXES = ['content-', 'resent-'];

/** Fields that receiving servers add and trust from the path, not from the sender (lower-case). */
const TRUSTED_PATH_FIELDS: ReadonlySet<string> = new Set(['authentication-results', 'received-spf', 'delivered-to']);
const TRUSTED_PATH_PREFIXES = ['arc-', 'x-ms-exchange-organization-'];

/** Whether the worker owns a header field (case-insensitive): From, Content-*, Resent-*, ... */
export function isWorkerOwnedHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return OWNED_FIELDS.has(lower) || OWNED_PREFIXES.some((prefix) => lower.startsWith(prefix));
}

/** Whether receivers trust a header field from the path (case-insensitive): Authentication-Results, ARC-*, ... */
export function isTrustedPathHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return TRUSTED_PATH_FIELDS.has(lower) || TRUSTED_PATH_PREFIXES.some((prefix) => lower.startsWith(prefix));
}

/**
 * Why a value cannot be folded into lines of at most 998 octets, or undefined. nodemailer folds
 * before any word that does not fit (even the first, which then starts the next line after the
 * folding space), so a word fits when it and that space make at most 998 octets.
 */
export function unfoldableWord(value: string): string | undefined {
  for (const word of value.split(/[ \t]+/)) {
    if (word.length + 1 > MAX_LINE_OCTETS && !/[^\x00-\x7F]/.test(word)) {
      return `has a word of ${word.length.toLocaleString('en-US')} characters ("${word.slice(0, 16)}…") that cannot be folded into a line of ${MAX_LINE_OCTETS} octets: break it with spaces`;
    }
  }
  return undefined;
}

function isMessageIdName(name: string): boolean {
  return name.toLowerCase() === 'message-id';
}

function headerProblems(name: string, value: string, all: Readonly<Record<string, unknown>>): string[] {
  if (!FIELD_NAME.test(name)) return ['name must be an RFC 5322 field name (printable ASCII without space or ":")'];
  if (name.length > MAX_LINE_OCTETS - 2) return [`name must be at most ${MAX_LINE_OCTETS - 2} characters`];
  const lower = name.toLowerCase();
  if (isWorkerOwnedHeader(name)) {
    const instead = OWNED_FIELDS.get(lower);
    return [`is set by the worker and may not be given in headers${instead ? `: ${instead}` : ''}`];
  }
  if (isTrustedPathHeader(name)) return ['is added by the receiving servers, which trust it from the path, not from the sender: it may not be given in headers'];
  const problems = headerSafeProblems(value, MAX_HEADER_VALUE_CHARS, true);
  const unfoldable = problems.length === 0 ? unfoldableWord(value) : undefined;
  if (unfoldable) problems.push(unfoldable);
  if (isMessageIdName(name)) {
    if (Object.keys(all).filter(isMessageIdName).length > 1) problems.push('Message-ID is given more than once (names differ only in case)');
    if (problems.length === 0 && !isMessageId(value)) problems.push(MESSAGE_ID_REQUIREMENT);
  }
  return problems;
}

export interface CustomHeaders {
  readonly headers: Readonly<Record<string, string>>;
  /** The `Message-ID` given in headers, lifted out of them. */
  readonly messageId?: string | undefined;
}

/** `headers`: name → value; `Message-ID` (any case) comes out as {@link CustomHeaders.messageId}. */
export const headersSchema = z.pipe(
  stringMapSchema({ holds: 'header names to string values', maxEntries: MAX_HEADERS, check: headerProblems }),
  z.transform((map: Record<string, string>): CustomHeaders => {
    const headers = Object.create(null) as Record<string, string>;
    let messageId: string | undefined;
    for (const [name, value] of Object.entries(map)) {
      if (isMessageIdName(name)) messageId = value;
      else headers[name] = value;
    }
    return { headers, messageId };
  }),
);
