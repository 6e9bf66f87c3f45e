/**
 * Attachments of a structured message (docs/design.md §1.1):
 * `{ filename, contentType?, content, cid?, disposition? }` with base64 content. The file name is
 * reduced to its last path segment because a receiver that saves attachments must never be handed
 * a path, and it may hold no format character: a right-to-left override turns
 * `invoice\u202Efdp.exe` into what a mail client shows as `invoiceexe.pdf`.
 *
 * `cid` makes an inline part that the HTML references as `cid:…` (nodemailer puts it in a
 * multipart/related part with the HTML); a `text/calendar` attachment with a `method` parameter
 * is the message's calendar invite, which compose sends through nodemailer's `icalEvent`: as an
 * alternative body part, as calendar clients expect, and as an attachment.
 */
import * as z from 'zod/mini';
import { addTransformIssue, builtOnFirstUse } from '../validation.js';
import { decodeStrictBase64 } from './base64.js';
import { MAX_FILENAME_CHARS, MAX_LINE_OCTETS } from './constants.js';
import { parseContentType, type ContentType } from './contentType.js';
import { headerSafeProblems, stringField } from './text.js';
import type { MessageAttachment } from './types.js';

/** A Content-ID is a msg-id without its angle brackets (RFC 2392): dot-atom text, at most one "@". */
const CONTENT_ID = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]+(?:@[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]+)?$/;
const MAX_CID_CHARS = 255;

/** Unicode format characters (bidi overrides and isolates, zero-width joiners, the BOM …). */
const FORMAT_CHARACTER = /\p{Cf}/u;
const FORMAT_NAMES: Readonly<Record<number, string>> = {
  0x202a: 'LEFT-TO-RIGHT EMBEDDING',
  0x202b: 'RIGHT-TO-LEFT EMBEDDING',
  0x202c: 'POP DIRECTIONAL FORMATTING',
  0x202d: 'LEFT-TO-RIGHT OVERRIDE',
  0x202e: 'RIGHT-TO-LEFT OVERRIDE',
  0x2066: 'LEFT-TO-RIGHT ISOLATE',
  0x2067: 'RIGHT-TO-LEFT ISOLATE',
  0x2068: 'FIRST STRONG ISOLATE',
  0x2069: 'POP DIRECTIONAL ISOLATE',
};

/** `C:\reports\r.pdf` and `../../r.pdf` both become `r.pdf`. */
export function lastPathSegment(filename: string): string {
  return filename.split(/[\\/]/).at(-1) ?? '';
}

/** The first format character of a value, described (`U+202E (RIGHT-TO-LEFT OVERRIDE)`), or undefined. */
export function formatCharacter(value: string): string | undefined {
  const match = FORMAT_CHARACTER.exec(value);
  if (!match) return undefined;
  const code = match[0].codePointAt(0) ?? 0;
  const name = FORMAT_NAMES[code];
  return `U+${code.toString(16).toUpperCase().padStart(4, '0')}${name ? ` (${name})` : ''}`;
}

/** `attachments`, built on the first message that has attachments (most have none). */
export const attachmentsSchema = builtOnFirstUse(function buildAttachmentsSchema() {
  const filenameSchema = z.pipe(
    stringField(),
    z.transform((value: string, ctx) => {
      // The whole value is checked, not only what is kept: an unsafe character means a broken producer.
      for (const problem of headerSafeProblems(value, MAX_LINE_OCTETS)) addTransformIssue(ctx, problem);
      const format = formatCharacter(value);
      if (format) addTransformIssue(ctx, `must not contain ${format}: a format character can disguise the file's real extension`);
      const name = lastPathSegment(value);
      if (name.trim() === '') addTransformIssue(ctx, 'must name a file: nothing is left after the last "/" or "\\"');
      else if (name === '.' || name === '..') addTransformIssue(ctx, 'must name a file, not "." or ".."');
      else if (name.length > MAX_FILENAME_CHARS) addTransformIssue(ctx, `must be at most ${MAX_FILENAME_CHARS} characters after its last path segment is taken`);
      return name;
    }),
  );

  const contentTypeSchema = z.pipe(
    stringField(),
    z.transform((value: string, ctx): ContentType => {
      const parsed = parseContentType(value);
      if (parsed.ok) return parsed.contentType;
      for (const reason of parsed.reasons) addTransformIssue(ctx, reason);
      return z.NEVER;
    }),
  );

  const cidSchema = stringField().check(
    z.superRefine((value, ctx) => {
      const problems = headerSafeProblems(value, MAX_CID_CHARS);
      if (problems.length === 0 && /[<>]/.test(value)) problems.push('must be the Content-ID without "<" and ">" (write logo@acme.example, referenced as cid:logo@acme.example)');
      else if (problems.length === 0 && !CONTENT_ID.test(value)) {
        problems.push('must be a Content-ID: ASCII letters, digits and !#$%&\'*+-/=?^_`{|}~. with at most one "@" (like logo@acme.example)');
      }
      for (const problem of problems) ctx.addIssue({ code: 'custom', message: problem });
    }),
  );

  const contentSchema = z.pipe(
    z.string({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be a base64 string') }),
    z.transform((value: string, ctx) => {
      const decoded = decodeStrictBase64(value);
      if (decoded.ok) return decoded.bytes;
      addTransformIssue(ctx, decoded.reason);
      return z.NEVER;
    }),
  );

  const dispositionSchema = z.enum(['attachment', 'inline'], 'must be "attachment" or "inline"');

  const attachmentFieldsSchema = z.strictObject(
    { filename: filenameSchema, contentType: z.optional(contentTypeSchema), content: contentSchema, cid: z.optional(cidSchema), disposition: z.optional(dispositionSchema) },
    'must be an object { filename, contentType?, content, cid?, disposition? }',
  );

  const attachmentSchema = z.pipe(
    attachmentFieldsSchema,
    z.transform((attachment: z.output<typeof attachmentFieldsSchema>, ctx): MessageAttachment => {
      const { filename, contentType, content, cid } = attachment;
      if (cid !== undefined && attachment.disposition === 'attachment') {
        addTransformIssue(ctx, 'must be "inline" (or left out) when cid is given: the HTML shows the part in place', ['disposition']);
      }
      const method = contentType?.mediaType === 'text/calendar' ? contentType.parameters.method : undefined;
      if (method !== undefined) {
        if (cid !== undefined) addTransformIssue(ctx, 'is not allowed on a calendar invite (text/calendar with method): it is sent as a body part and an attachment', ['cid']);
        if (attachment.disposition === 'inline') addTransformIssue(ctx, 'must be "attachment" (or left out) on a calendar invite: its body part is added by the worker', ['disposition']);
        const declared = calendarMethodOf(content);
        if (declared !== method) {
          addTransformIssue(
            ctx,
            declared === undefined
              ? `must hold a METHOD:${method} property, as the content type's method says (RFC 6047 §2.4)`
              : `has METHOD:${declared} but the content type says method=${method}: they must match (RFC 6047 §2.4)`,
            ['content'],
          );
        }
      }
      return {
        filename,
        ...(contentType !== undefined && { contentType: contentType.value }),
        content,
        ...(cid !== undefined && { cid }),
        disposition: cid !== undefined ? 'inline' : (attachment.disposition ?? 'attachment'),
        ...(method !== undefined && { calendarMethod: method }),
      };
    }),
  );

  const attachmentsSchema = z.array(attachmentSchema, 'must be an array of attachments').check(
    z.superRefine((attachments, ctx) => {
      const cids = new Map<string, number>();
      let invite: number | undefined;
      attachments.forEach((attachment, index) => {
        if (attachment.cid !== undefined) {
          // Receivers compare Content-IDs loosely; two that differ only in case are one to some of them.
          const key = attachment.cid.toLowerCase();
          const first = cids.get(key);
          if (first === undefined) cids.set(key, index);
          else ctx.addIssue({ code: 'custom', path: [index, 'cid'], message: `must be unique within the message: attachments[${first}] has the same Content-ID` });
        }
        if (attachment.calendarMethod !== undefined) {
          if (invite === undefined) invite = index;
          else {
            ctx.addIssue({
              code: 'custom',
              path: [index, 'contentType'],
              message: `a message holds one calendar invite (text/calendar with method), and attachments[${invite}] is one: leave the method parameter out here`,
            });
          }
        }
      });
    }),
  );
  return attachmentsSchema;
});

/** The METHOD property of an iCalendar object (RFC 5545 §3.7.2), upper-case, or undefined. */
function calendarMethodOf(content: Buffer): string | undefined {
  // Unfold first (RFC 5545 §3.1): a long property may continue on lines that start with a space.
  const text = content.toString('utf8').replace(/\r?\n[ \t]/g, '');
  const match = /^METHOD(?:;[^:\r\n]*)?:[ \t]*([^\r\n]*)$/im.exec(text);
  return match ? (match[1] ?? '').trim().toUpperCase() : undefined;
}
