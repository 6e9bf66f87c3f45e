/**
 * The hook's answer: validated field by field (a malformed answer is a configuration error naming
 * the field, `hook.pass`, ...), then laid over the auth resolved from the scopes and the message.
 */
import * as z from 'zod/mini';
import type { EffectiveAuth } from '../config/resolve.js';
import { AUTH_TYPES, keysourceSchema, oauth2ClientSchema, safeString, type AuthType } from '../config/schema.js';
import { PermanentDeliveryError } from '../errors.js';
import { builtOnFirstUse, toFieldIssues } from '../validation.js';
import { HookSecret } from './hookSecret.js';

/** The reference `auth.pass` holds for a literal secret from the hook (credentials read `hookPass`). */
export const HOOK_SECRET_REFERENCE = '(auth hook secret)#';

/** Longest literal secret accepted (an OAuth2 bearer token can be a few KB). */
export const MAX_LITERAL_SECRET = 16_384;

/** Built on the first answer, as {@link answerSchema}. */
const literalSecret = builtOnFirstUse(() =>
  z
    .string()
    .check(
      z.minLength(1, 'must not be empty'),
      z.maxLength(MAX_LITERAL_SECRET, `must be at most ${MAX_LITERAL_SECRET} characters`),
      z.refine((value) => !/[\r\n\0]/.test(value), 'must not contain CR, LF or NUL'),
    ),
);

/** Built on the first answer: a worker whose routes have no hook never builds it. */
const answerSchema = builtOnFirstUse(() =>
  z.strictObject({
    type: z.optional(z.enum(AUTH_TYPES, { error: 'must be PLAIN, LOGIN, XOAUTH2 or NONE' })),
    user: z.optional(safeString(512)),
    pass: z.optional(
      z.custom<unknown>().check(
        z.superRefine((value, ctx) => {
          const schema = typeof value === 'string' ? literalSecret() : keysourceSchema;
          const result = schema.safeParse(value);
          if (!result.success) for (const issue of result.error.issues) ctx.addIssue({ ...issue } as Parameters<typeof ctx.addIssue>[0]);
        }),
      ),
    ),
    oauth2: z.optional(oauth2ClientSchema),
  }),
);

/** A validated answer: `pass` is a keysource or a {@link HookSecret}, never a bare string. */
export interface HookAuth {
  readonly type?: AuthType | undefined;
  readonly user?: string | undefined;
  readonly pass?: EffectiveAuth['pass'] | undefined;
  readonly hookPass?: HookSecret | undefined;
  readonly oauth2?: EffectiveAuth['oauth2'] | undefined;
}

/**
 * @returns undefined when the hook answered nothing (undefined or null): the auth stays as resolved.
 * @throws PermanentDeliveryError (`config-error`) naming each bad field as `hook.<field>`; the
 *   message never quotes the value (it may be a secret).
 */
export function parseHookAnswer(raw: unknown): HookAuth | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw malformed([{ path: 'hook', message: `must be an object of auth fields or nothing (got ${Array.isArray(raw) ? 'an array' : typeof raw})` }]);
  }
  const cleaned = Object.fromEntries(Object.entries(raw as Record<string, unknown>).filter(([, v]) => v !== undefined && v !== null));
  const result = answerSchema().safeParse(cleaned);
  if (!result.success) throw malformed(toFieldIssues(result.error, ['hook']));
  const { pass, ...rest } = result.data;
  if (typeof pass === 'string') return { ...rest, hookPass: new HookSecret(pass) };
  return { ...rest, pass: pass as EffectiveAuth['pass'] };
}

function malformed(issues: { path: string; message: string }[]): PermanentDeliveryError {
  const detail = issues.map((i) => `${i.path}: ${i.message}`).join('; ');
  return new PermanentDeliveryError(`the auth hook answered with an invalid field: ${detail}`, { reason: 'config-error' });
}

/**
 * Lay the hook's fields over the resolved auth: each field it sets wins over every scope and the
 * message. A `pass` (keysource or literal) drops an OAuth2 client from below, as a higher scope's
 * `pass` does; an `oauth2` drops a `pass` from below. With no `type` in the answer and none
 * configured, the mechanism is inferred again from what is now there.
 * @returns the new auth and the fields the hook set (`auth.user`, ...), for `config explain`.
 */
export function applyHookAnswer(auth: EffectiveAuth, answer: HookAuth, typeWasInferred: boolean): { auth: EffectiveAuth; fields: string[] } {
  const fields: string[] = [];
  let { type, user, pass, hookPass, oauth2 } = auth;
  if (answer.user !== undefined) {
    user = answer.user;
    fields.push('auth.user');
  }
  if (answer.pass !== undefined || answer.hookPass !== undefined) {
    // A literal secret also stands in `pass` as a reference to its fingerprint (never the secret):
    // the pool keys sessions by `auth.pass`, so two secrets never share a session.
    pass = answer.hookPass ? { secret: `${HOOK_SECRET_REFERENCE}${answer.hookPass.fingerprint}` } : answer.pass;
    hookPass = answer.hookPass;
    if (answer.oauth2 === undefined) oauth2 = undefined;
    fields.push('auth.pass');
  }
  if (answer.oauth2 !== undefined) {
    oauth2 = answer.oauth2;
    if (answer.pass === undefined && answer.hookPass === undefined) {
      pass = undefined;
      hookPass = undefined;
    }
    fields.push('auth.oauth2');
  }
  if (answer.type !== undefined) {
    type = answer.type;
    fields.push('auth.type');
  } else if (typeWasInferred && fields.length > 0) {
    type = oauth2 ? 'XOAUTH2' : user !== undefined || pass !== undefined || hookPass !== undefined ? 'PLAIN' : 'NONE';
    if (type !== auth.type) fields.push('auth.type');
  }
  return { auth: { ...auth, type, user, pass, hookPass, oauth2 }, fields };
}
