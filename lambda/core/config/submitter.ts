/**
 * The `submitter#<name>` config item of docs/design.md §3.1: who may submit mail through
 * `mailrelay gateway` (the KumoMTA `smtp_server_auth_plain` model). It lives in the config table
 * beside the delivery items but is never part of scope resolution: the worker never reads it.
 * Strict like every other item: unknown fields are errors with their path.
 */
import * as z from 'zod/mini';
import { ConfigValidationError } from '../errors.js';
import { toALabel } from '../message/domains.js';
import { addTransformIssue, stripNulls, toFieldIssues } from '../validation.js';
import { bindingName, keysourceSchema } from './schema.js';

export const SUBMITTER_SCOPE_PREFIX = 'submitter#';

/**
 * A SASL identity (authc or authz): what a client types as its user name. Case-sensitive, as
 * SASL identities are; no spaces or controls, so it is safe in a log line and a DynamoDB key.
 */
export const SUBMITTER_NAME_PATTERN = /^[A-Za-z0-9._@+=-]{1,128}$/;
const NAME_RULE = 'must be 1-128 letters, digits, ".", "_", "@", "+", "=" or "-"';

/** At most this many authorization identities per submitter; at most this many sender domains. */
export const MAX_SUBMITTER_AUTHZ = 100;
export const MAX_SUBMITTER_FROM_DOMAINS = 100;

const identity = z.string('must be a string').check(z.regex(SUBMITTER_NAME_PATTERN, NAME_RULE));

const fromDomain = z.pipe(
  z.string('must be a string'),
  z.transform((value: string, ctx) => {
    const result = toALabel(value.trim());
    if (!result.ok) {
      addTransformIssue(ctx, result.reason);
      return z.NEVER;
    }
    return result.domain;
  }),
);

export const submitterItemSchema = z.strictObject({
  scope: z.string('must be a string').check(
    z.refine((value) => value.startsWith(SUBMITTER_SCOPE_PREFIX) && SUBMITTER_NAME_PATTERN.test(value.slice(SUBMITTER_SCOPE_PREFIX.length)), {
      message: `must be submitter#<name>, the name ${NAME_RULE}`,
    }),
  ),
  description: z.optional(z.string().check(z.maxLength(1024, 'must be at most 1024 characters'))),
  /** Where the submitter's password lives; compared in constant time, never logged. */
  password: keysourceSchema,
  /** The binding every message of this submitter is sent under (never taken from the message). */
  binding: bindingName,
  /** Authorization identities this submitter may act as, besides itself. @default [] */
  authz: z._default(z.array(identity, 'must be an array of identities').check(z.maxLength(MAX_SUBMITTER_AUTHZ, `must hold at most ${MAX_SUBMITTER_AUTHZ} identities`)), []),
  /** Domains MAIL FROM may use (exact domains, compared as lower-case A-labels). */
  fromDomains: z
    .array(fromDomain, 'must be an array of domains')
    .check(z.minLength(1, 'must name at least one domain'), z.maxLength(MAX_SUBMITTER_FROM_DOMAINS, `must hold at most ${MAX_SUBMITTER_FROM_DOMAINS} domains`)),
  /** AUTH LOGIN too (legacy clients); PLAIN only when absent. @default false */
  allowLogin: z.optional(z.boolean('must be true or false')),
  /** Written by the CLI; informational. */
  updatedAt: z.optional(z.string()),
});
export type SubmitterItem = z.infer<typeof submitterItemSchema>;

/** Whether a stored or written item is a submitter item (judged by its scope alone). */
export function isSubmitterScope(input: unknown): boolean {
  const scope = (input as { scope?: unknown } | null)?.scope;
  return typeof scope === 'string' && scope.startsWith(SUBMITTER_SCOPE_PREFIX);
}

/** The config table key of a submitter. */
export const submitterScope = (name: string): string => `${SUBMITTER_SCOPE_PREFIX}${name}`;

/**
 * Validate a submitter item as stored or written.
 * @throws ConfigValidationError naming each bad field's path.
 * @example
 * parseSubmitterItem({ scope: 'submitter#app1', password: { secret: 'mailrelay/app1' }, binding: 'acme', fromDomains: ['acme.example'] });
 * // { ..., authz: [], fromDomains: ['acme.example'] }
 */
export function parseSubmitterItem(input: unknown): SubmitterItem {
  const cleaned = stripNulls(input);
  const result = submitterItemSchema.safeParse(cleaned);
  if (result.success) return result.data;
  const scope = typeof (cleaned as { scope?: unknown } | null)?.scope === 'string' ? (cleaned as { scope: string }).scope : undefined;
  throw new ConfigValidationError(scope, toFieldIssues(result.error), { cause: result.error });
}
