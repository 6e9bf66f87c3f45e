/** The queue message of docs/design.md §1, validated as §1.1 says. */
import type { FieldIssue } from '../errors.js';
import { MessageValidationError } from '../errors.js';
import { stripNulls } from '../validation.js';
import { dedupeAddresses } from './addresses.js';
import { MAX_RECIPIENTS, MAX_REPORTED_ISSUES, STRUCTURED_FIELDS } from './constants.js';
import { readJsonBody } from './jsonBody.js';
import { deriveMessageId } from './messageId.js';
import { assembleRawMessage, parseRawMessage } from './raw.js';
import { parseMessageFields, type MessageFields } from './schema.js';
import { LIST_UNSUBSCRIBE_HEADERS } from './listUnsubscribe.js';
import { jsonTreeIssues, logSafePath } from './text.js';
import type { MailAddress, QueueMessage, RawContent, StructuredContent } from './types.js';

export interface ParseQueueMessageOptions {
  /** The idempotency key when the body has none: the SQS message id, stable across redeliveries. */
  readonly fallbackIdempotencyKey: string;
  /** The largest body accepted: the queue's 1 MiB, or 40 MiB for a body read from S3 (lambda/core/payloads.ts). @default MAX_BODY_BYTES */
  readonly maxBodyBytes?: number | undefined;
}

/** What the content, structured or raw, contributes to the message. */
interface ContentParts {
  readonly content: StructuredContent | RawContent;
  readonly sender: MailAddress;
  readonly envelopeFrom: string;
  readonly recipients: readonly MailAddress[];
  readonly messageId: string;
}

/**
 * Validate an SQS body and turn it into a {@link QueueMessage}: structured content or `raw`,
 * addresses parsed (domains as lower-case A-labels), recipients de-duplicated, the binding
 * defaulted to the sender's domain, and a Message-ID derived from the idempotency key when the
 * message sets none.
 *
 * @param body - the SQS message body: UTF-8 JSON, at most 1 MiB.
 * @param options.fallbackIdempotencyKey - used when the body has no `idempotencyKey` (the SQS message id).
 * @throws MessageValidationError listing the problems found, each with its field path
 *   (`to[1]`, `headers.X-Foo`, `attachments[0].content`, `auth.pass`, `$` for the whole body).
 *   Every field is checked even when others fail; a hostile body's issues are listed up to
 *   {@link MAX_REPORTED_ISSUES} (50 per list or map) and the rest counted, so the reason stays
 *   small enough for a log line and a DLQ attribute.
 * @example
 * const message = parseQueueMessage(
 *   JSON.stringify({ from: 'Acme Billing <billing@acme.example>', to: ['bob@example.net'], subject: 'Your receipt', text: 'Hi' }),
 *   { fallbackIdempotencyKey: record.messageId },
 * );
 * message.binding;        // 'acme.example' (bindingSource 'sender-domain')
 * message.envelope.to;    // [{ name: '', address: 'bob@example.net', domain: 'example.net' }]
 */
export function parseQueueMessage(body: string, options: ParseQueueMessageOptions): QueueMessage {
  const json = readJsonBody(body, options.maxBodyBytes);
  if (!json.ok) throw invalid([json.issue]);
  const treeIssues = jsonTreeIssues(json.value);
  // Too deep to walk safely: nothing else can be checked.
  if (treeIssues.some((issue) => issue.path === '$')) throw invalid(treeIssues);

  const input = stripNulls(json.value) as Record<string, unknown>;
  const { fields, issues: fieldIssues } = parseMessageFields(input);
  const issues: FieldIssue[] = [...treeIssues, ...fieldIssues];
  const present = (name: string) => Object.hasOwn(input, name);
  const idempotencyKey = fields.idempotencyKey ?? options.fallbackIdempotencyKey;

  let parts: ContentParts | undefined;
  if (present('raw')) {
    for (const name of STRUCTURED_FIELDS) {
      if (present(name)) issues.push({ path: name, message: 'is not allowed with raw: the raw message carries it' });
    }
    parts = rawParts(fields, present('envelope'), idempotencyKey, issues);
  } else {
    const envelope = input.envelope;
    if (envelope !== null && typeof envelope === 'object' && Object.hasOwn(envelope, 'to')) {
      issues.push({ path: 'envelope.to', message: 'is only allowed with raw: a structured message takes its recipients from to, cc and bcc' });
    }
    listUnsubscribeConflicts(input, issues);
    parts = structuredParts(fields, present, idempotencyKey, issues);
  }

  if (issues.length > 0 || parts === undefined) {
    // parts is only missing when an issue says why; the fallback keeps that promise explicit.
    throw invalid(issues.length > 0 ? issues : [{ path: '$', message: 'is not a valid message' }]);
  }
  const { content, sender, envelopeFrom, recipients, messageId } = parts;
  return {
    idempotencyKey,
    binding: fields.binding ?? sender.domain,
    bindingSource: fields.binding === undefined ? 'sender-domain' : 'message',
    sender,
    envelope: { from: envelopeFrom, to: recipients },
    content,
    messageId,
    ...(fields.auth !== undefined && { auth: fields.auth }),
    tags: fields.tags ?? {},
    ...(fields.submission !== undefined && { submission: fields.submission }),
  };
}

/** The error for a refused body: paths made log-safe, at most {@link MAX_REPORTED_ISSUES} listed. */
function invalid(issues: readonly FieldIssue[]): MessageValidationError {
  const listed = issues.slice(0, MAX_REPORTED_ISSUES).map((issue) => ({ path: logSafePath(issue.path), message: issue.message }));
  if (issues.length > MAX_REPORTED_ISSUES) listed.push({ path: '$', message: `has ${issues.length - MAX_REPORTED_ISSUES} more issues, not listed` });
  return new MessageValidationError(listed);
}

function structuredParts(
  fields: MessageFields,
  present: (name: string) => boolean,
  idempotencyKey: string,
  issues: FieldIssue[],
): ContentParts | undefined {
  if (!present('from')) issues.push({ path: 'from', message: 'is required (or give raw)' });
  const lists = ['to', 'cc', 'bcc'] as const;
  // A list that failed validation has its own issues; counting without it would mislead.
  const listsValid = lists.every((name) => !present(name) || fields[name] !== undefined);
  const recipients = dedupeAddresses(lists.flatMap((name) => fields[name] ?? []));
  if (listsValid) {
    checkRecipientCount(recipients.length, { nonePath: 'to', none: 'must have at least one recipient in to, cc or bcc', tooManyPath: '$' }, issues);
  }
  const { from } = fields;
  // An invalid envelope.from has its own issue; MAIL FROM must never silently fall back to from.
  if (from === undefined || !listsValid || (present('envelope') && fields.envelope === undefined)) return undefined;

  const content: StructuredContent = {
    kind: 'structured',
    from,
    to: fields.to ?? [],
    cc: fields.cc ?? [],
    bcc: fields.bcc ?? [],
    ...(fields.replyTo !== undefined && { replyTo: fields.replyTo }),
    ...(fields.subject !== undefined && { subject: fields.subject }),
    ...(fields.text !== undefined && { text: fields.text }),
    ...(fields.html !== undefined && { html: fields.html }),
    headers: fields.headers?.headers ?? {},
    attachments: fields.attachments ?? [],
    ...(fields.listUnsubscribe !== undefined && { listUnsubscribe: fields.listUnsubscribe }),
  };
  const messageId = fields.headers?.messageId ?? deriveMessageId(idempotencyKey, from.domain);
  // The bounce address (VERP, a bounce mailbox): MAIL FROM, and so Return-Path at delivery; From stays.
  const envelopeFrom = fields.envelope?.from?.address ?? from.address;
  return { content, sender: from, envelopeFrom, recipients, messageId };
}

function rawParts(fields: MessageFields, envelopePresent: boolean, idempotencyKey: string, issues: FieldIssue[]): ContentParts | undefined {
  const { raw, envelope } = fields;
  // Without a valid envelope the raw message cannot be judged: its From and To may not be needed.
  if (raw === undefined || (envelopePresent && envelope === undefined)) return undefined;
  const parsed = parseRawMessage(raw, envelope ?? {});
  if (!parsed.ok) {
    for (const message of parsed.reasons) issues.push({ path: 'raw', message });
    return undefined;
  }
  const message = parsed.message;
  const recipients = dedupeAddresses(message.recipients);
  const path = message.recipientsFrom === 'envelope' ? 'envelope.to' : 'raw';
  checkRecipientCount(recipients.length, { nonePath: path, none: 'has no recipients in To, Cc or Bcc: add them, or give envelope.to', tooManyPath: path }, issues);
  const messageId = message.messageId ?? deriveMessageId(idempotencyKey, message.sender.domain);
  const bytes = assembleRawMessage(message, message.messageId === undefined ? messageId : undefined);
  return { content: { kind: 'raw', raw: bytes }, sender: message.sender, envelopeFrom: message.envelopeFrom.address, recipients, messageId };
}

/**
 * `listUnsubscribe` writes List-Unsubscribe and List-Unsubscribe-Post: the same fields in
 * `headers` would be written twice, so each is refused there, by name, while `listUnsubscribe`
 * is given. Read from the input, so the conflict shows even when other headers are invalid.
 */
function listUnsubscribeConflicts(input: Readonly<Record<string, unknown>>, issues: FieldIssue[]): void {
  const headers = input.headers;
  if (!Object.hasOwn(input, 'listUnsubscribe') || headers === null || typeof headers !== 'object' || Array.isArray(headers)) return;
  for (const name of Object.keys(headers)) {
    if ((LIST_UNSUBSCRIBE_HEADERS as readonly string[]).includes(name.toLowerCase())) {
      issues.push({ path: `headers.${name}`, message: 'must not be given together with listUnsubscribe, which writes List-Unsubscribe and List-Unsubscribe-Post: use one or the other' });
    }
  }
}

/** docs/design.md §1.1: at least one recipient in all, at most 1,000, counted after de-duplication. */
function checkRecipientCount(
  count: number,
  where: { readonly nonePath: string; readonly none: string; readonly tooManyPath: string },
  issues: FieldIssue[],
): void {
  if (count === 0) issues.push({ path: where.nonePath, message: where.none });
  else if (count > MAX_RECIPIENTS) {
    const message = `must have at most ${MAX_RECIPIENTS.toLocaleString('en-US')} recipients in all, after de-duplication (has ${count.toLocaleString('en-US')})`;
    issues.push({ path: where.tooManyPath, message });
  }
}
