/**
 * The fields of the queue message (docs/design.md §1), each with its own schema, so that every field
 * is checked — and every problem reported — even when its neighbours are broken. How the fields
 * combine (structured or raw, recipients in all) is parseQueueMessage's business.
 */
import * as z from 'zod/mini';
import { messageAuthSchema, NAME_PATTERN } from '../config/schema.js';
import type { FieldIssue } from '../errors.js';
import { builtOnFirstUse, toFieldIssues } from '../validation.js';
import { mailboxListSchema, mailboxSchema } from './addresses.js';
import { attachmentsSchema } from './attachments.js';
import { MAX_IDEMPOTENCY_KEY_CHARS, MAX_SUBJECT_CHARS, MAX_TAG_KEY_CHARS, MAX_TAG_VALUE_CHARS, MAX_TAGS } from './constants.js';
import { headersSchema } from './headers.js';
import { listUnsubscribeSchema } from './listUnsubscribe.js';
import { stringMapSchema } from './stringMap.js';
import { codePointLength, headerSafeProblems, headerSafeString, nonPrintableCharacter, nulFreeString, stringField } from './text.js';

/** 1–256 printable characters (code points); see {@link nonPrintableCharacter} for "printable". */
export const idempotencyKeySchema = stringField().check(
  z.superRefine((value, ctx) => {
    const length = codePointLength(value);
    if (length === 0) ctx.addIssue({ code: 'custom', message: 'must not be empty' });
    if (length > MAX_IDEMPOTENCY_KEY_CHARS) ctx.addIssue({ code: 'custom', message: `must be at most ${MAX_IDEMPOTENCY_KEY_CHARS} characters` });
    const bad = nonPrintableCharacter(value);
    if (bad) ctx.addIssue({ code: 'custom', message: `must be printable: must not contain ${bad}` });
  }),
);

/** A binding name, lower-cased: binding names are case-insensitive. */
export const bindingSchema = z.pipe(
  stringField().check(z.regex(NAME_PATTERN, 'must be 1-128 letters, digits, ".", "_" or "-"')),
  z.transform((value: string) => value.toLowerCase()),
);

export const recipientListSchema = mailboxListSchema();

/**
 * `envelope`: MAIL FROM and RCPT TO, each optional. Beside `raw`, an absent part is read from the
 * headers; beside structured content only `from` (the bounce address) is allowed.
 */
export const envelopeSchema = z.strictObject(
  {
    from: z.optional(mailboxSchema),
    to: z.optional(mailboxListSchema({ minMessage: 'must not be empty: leave it out to use the To, Cc and Bcc headers' })),
  },
  'must be an object { from?, to? }',
);

export const rawSchema = stringField().check(
  z.minLength(1, 'must not be empty'),
  z.refine((value) => !value.includes('\0'), 'must not contain NUL'),
);

export const tagsSchema = stringMapSchema({
  holds: 'tag names to string values',
  maxEntries: MAX_TAGS,
  check: (key, value) => [
    ...headerSafeProblems(key, MAX_TAG_KEY_CHARS).map((problem) => `name ${problem}`),
    ...headerSafeProblems(value, MAX_TAG_VALUE_CHARS, true),
  ],
});

/**
 * `submission`: who handed the message to `mailrelay gateway` (docs/design.md §3.1). Kept with the
 * message and logged by the worker; it changes nothing about the delivery. Built on the first
 * message that has it (only the gateway's do).
 */
export const submissionSchema = builtOnFirstUse(() =>
  z.strictObject(
    {
      authnId: headerSafeString({ max: 256 }),
      authzId: headerSafeString({ max: 256 }),
      clientAddress: headerSafeString({ max: 64 }),
      receivedAt: z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time' }),
    },
    'must be an object { authnId, authzId, clientAddress, receivedAt }',
  ),
);

/**
 * Every field a queue message may have. A function is a schema built on the first message that
 * has the field (lambda/core/validation.ts `builtOnFirstUse`): fields most messages lack.
 */
export const messageFieldSchemas = {
  idempotencyKey: idempotencyKeySchema,
  from: mailboxSchema,
  to: recipientListSchema,
  cc: recipientListSchema,
  bcc: recipientListSchema,
  replyTo: mailboxSchema,
  subject: headerSafeString({ max: MAX_SUBJECT_CHARS, allowEmpty: true }),
  text: nulFreeString(),
  html: nulFreeString(),
  headers: headersSchema,
  attachments: attachmentsSchema,
  listUnsubscribe: listUnsubscribeSchema,
  raw: rawSchema,
  envelope: envelopeSchema,
  binding: bindingSchema,
  auth: messageAuthSchema,
  tags: tagsSchema,
  submission: submissionSchema,
} as const;

type FieldSchemas = { [K in keyof typeof messageFieldSchemas]: (typeof messageFieldSchemas)[K] extends () => infer S ? S : (typeof messageFieldSchemas)[K] };
export type MessageFieldName = keyof FieldSchemas;
/** The fields that were present and valid; a present but invalid field is absent here and has issues. */
export type MessageFields = { -readonly [K in MessageFieldName]?: z.output<FieldSchemas[K]> };

/** Only the field names: a strict object of them reports unknown fields at their own path. */
const knownFieldsSchema = z.strictObject(
  Object.fromEntries(Object.keys(messageFieldSchemas).map((name) => [name, z.optional(z.unknown())])),
);

/**
 * Check each field of a message object on its own.
 * @param input - the body after `stripNulls`, already known to be a plain object.
 */
export function parseMessageFields(input: Readonly<Record<string, unknown>>): { fields: MessageFields; issues: FieldIssue[] } {
  const issues: FieldIssue[] = [];
  const known = knownFieldsSchema.safeParse(input);
  if (!known.success) for (const issue of toFieldIssues(known.error)) issues.push(issue);
  const fields: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(messageFieldSchemas)) {
    // Own properties only: nothing inherited may pose as a field.
    if (!Object.hasOwn(input, name)) continue;
    const schema = typeof field === 'function' ? field() : field;
    const result = schema.safeParse(input[name]);
    if (result.success) fields[name] = result.data;
    // A loop, not push(...issues): one field can have more issues than a call has arguments.
    else for (const issue of toFieldIssues(result.error, [name])) issues.push(issue);
  }
  return { fields: fields as MessageFields, issues };
}
