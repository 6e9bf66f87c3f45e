/**
 * Attachments of a structured message: `{ filename, contentType?, content }` with base64 content
 * (docs/design.md §1.1). The file name is reduced to its last path segment because a receiver that
 * saves attachments must never be handed a path.
 */
import { z } from 'zod';
import { decodeStrictBase64 } from './base64.js';
import { MAX_FILENAME_CHARS, MAX_LINE_OCTETS } from './constants.js';
import { headerSafeProblems, stringField } from './text.js';
import type { MessageAttachment } from './types.js';

/** RFC 7230 token characters, as RFC 6838 restricts media type names to a subset of them. */
const MEDIA_TYPE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+\/[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const MAX_CONTENT_TYPE_CHARS = 255;

/** `C:\reports\r.pdf` and `../../r.pdf` both become `r.pdf`. */
export function lastPathSegment(filename: string): string {
  return filename.split(/[\\/]/).at(-1) ?? '';
}

const filenameSchema = stringField().transform((value, ctx) => {
  // The whole value is checked, not only what is kept: an unsafe character means a broken producer.
  for (const problem of headerSafeProblems(value, MAX_LINE_OCTETS)) ctx.addIssue({ code: 'custom', message: problem });
  const name = lastPathSegment(value);
  if (name.trim() === '') ctx.addIssue({ code: 'custom', message: 'must name a file: nothing is left after the last "/" or "\\"' });
  else if (name === '.' || name === '..') ctx.addIssue({ code: 'custom', message: 'must name a file, not "." or ".."' });
  else if (name.length > MAX_FILENAME_CHARS) ctx.addIssue({ code: 'custom', message: `must be at most ${MAX_FILENAME_CHARS} characters after its last path segment is taken` });
  return name;
});

const contentTypeSchema = stringField().transform((value, ctx) => {
  const problems = headerSafeProblems(value, MAX_CONTENT_TYPE_CHARS);
  if (problems.length === 0 && !MEDIA_TYPE.test(value)) problems.push('must be type/subtype (like application/pdf), without parameters');
  if (problems.length === 0 && /^multipart\//i.test(value)) problems.push('must not be multipart/*: the worker builds the MIME structure');
  for (const problem of problems) ctx.addIssue({ code: 'custom', message: problem });
  // Media types are case-insensitive (RFC 2045 §5.1).
  return value.toLowerCase();
});

const contentSchema = z.string({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be a base64 string') }).transform((value, ctx) => {
  const decoded = decodeStrictBase64(value);
  if (decoded.ok) return decoded.bytes;
  ctx.addIssue({ code: 'custom', message: decoded.reason });
  return z.NEVER;
});

export const attachmentSchema = z.strictObject(
  { filename: filenameSchema, contentType: contentTypeSchema.optional(), content: contentSchema },
  'must be an object { filename, contentType?, content }',
);

export const attachmentsSchema = z.array(attachmentSchema, 'must be an array of attachments').transform(
  (attachments): MessageAttachment[] =>
    attachments.map(({ filename, contentType, content }) => (contentType === undefined ? { filename, content } : { filename, contentType, content })),
);
