/**
 * `listUnsubscribe: { url, mailto? }` (docs/design.md §1.1): RFC 8058 one-click unsubscribe, which
 * Gmail and Yahoo require of bulk senders since 2024. compose writes `List-Unsubscribe` with
 * nodemailer's `list` option and `List-Unsubscribe-Post: List-Unsubscribe=One-Click` beside it.
 * The URL is kept exactly as given: unsubscribe links are often signed, and a normalised URL
 * would no longer match its signature.
 */
import * as z from 'zod/mini';
import { addTransformIssue, builtOnFirstUse } from '../validation.js';
import { parseMailbox } from './addresses.js';
import { headerSafeProblems, stringField } from './text.js';
import type { ListUnsubscribe } from './types.js';

/** Browsers and mail clients handle far longer URLs; this only keeps the header reasonable. */
export const MAX_UNSUBSCRIBE_URL_CHARS = 2_048;

/** What may not appear in a URL inside `<…>` in a header: whitespace, brackets, quotes, non-ASCII. */
function urlProblems(value: string): string[] {
  const problems = headerSafeProblems(value, MAX_UNSUBSCRIBE_URL_CHARS);
  if (problems.length > 0) return problems;
  if (/[\s<>"]/.test(value)) return ['must not contain whitespace, "<", ">" or \'"\': percent-encode them'];
  if (/[^\x00-\x7F]/.test(value)) return ['must be ASCII: percent-encode other characters'];
  return [];
}

/** `listUnsubscribe`, built on the first message that has one (only bulk mail does). */
export const listUnsubscribeSchema = builtOnFirstUse(function buildListUnsubscribeSchema() {
  const urlSchema = stringField().check(
    z.superRefine((value, ctx) => {
      const problems = urlProblems(value);
      if (problems.length === 0) {
        let url: URL | undefined;
        try {
          url = new URL(value);
        } catch {
          problems.push('must be a URL (https://…)');
        }
        if (url !== undefined) {
          // RFC 8058 §3: the one-click POST goes to an HTTPS URI, never plain HTTP.
          if (url.protocol !== 'https:' || !/^https:\/\//i.test(value)) problems.push('must be an https:// URL (RFC 8058 one-click unsubscribe needs HTTPS)');
          else if (url.username !== '' || url.password !== '') problems.push('must not hold a user name or password');
        }
      }
      for (const problem of problems) ctx.addIssue({ code: 'custom', message: problem });
    }),
  );

  const mailtoSchema = z.pipe(
    stringField(),
    z.transform((value: string, ctx): string => {
      const problems = urlProblems(value);
      const url = /^mailto:/i.test(value) ? value : `mailto:${value}`;
      if (problems.length === 0) {
        const address = url.slice('mailto:'.length).split('?')[0] ?? '';
        const mailbox = parseMailbox(address);
        if (!mailbox.ok) problems.push(`must be an address or a mailto: URL: ${mailbox.reason}`);
        else if (mailbox.address.name !== '') problems.push('must be a bare address, without a display name');
      }
      for (const problem of problems) addTransformIssue(ctx, problem);
      return url;
    }),
  );

  return z.pipe(
    z.strictObject({ url: urlSchema, mailto: z.optional(mailtoSchema) }, 'must be an object { url, mailto? }'),
    z.transform((value: { url: string; mailto?: string | undefined }): ListUnsubscribe => (value.mailto === undefined ? { url: value.url } : { url: value.url, mailto: value.mailto })),
  );
});

/** The header fields `listUnsubscribe` writes; in `headers` they conflict with it. */
export const LIST_UNSUBSCRIBE_HEADERS = ['list-unsubscribe', 'list-unsubscribe-post'] as const;
