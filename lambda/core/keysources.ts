/**
 * Turns a keysource (a reference to where a secret lives) into the secret, following docs/design.md §2:
 * with `field`, a JSON secret's field; without it, a JSON secret's `password` (and `username`, if
 * present, as the user); a plain-string secret is the password itself.
 */
import type { Keysource } from './config/schema.js';
import { PermanentDeliveryError } from './errors.js';
import type { ReadOptions, SecretSource } from './ports.js';

export interface ResolvedSecret {
  /** The password or bearer token. Never log it. */
  readonly secret: string;
  /** A JSON secret's `username`, when it carries one. */
  readonly username?: string | undefined;
}

/** What a keysource points at, for log lines and DLQ attributes: never the secret. */
export function describeKeysource(ref: Keysource): string {
  if ('secret' in ref) return `secret:${ref.secret}${ref.field ? `#${ref.field}` : ''}`;
  if ('parameter' in ref) return `parameter:${ref.parameter}`;
  if ('env' in ref) return `env:${ref.env}`;
  return 'value:(inline)';
}

/**
 * Read a keysource through the {@link SecretSource} port and pick the secret out of it.
 * @throws PermanentDeliveryError (`secret-missing`) when the field is absent or empty: retrying
 *   cannot fix a secret that lacks the field, the operator must.
 */
export async function resolveKeysource(ref: Keysource, source: SecretSource, options?: ReadOptions): Promise<ResolvedSecret> {
  const raw = await source.read(ref, options);
  const parsed = parseJsonObject(raw);
  const field = 'secret' in ref ? ref.field : undefined;
  if (field !== undefined) {
    const value = parsed?.[field];
    if (typeof value !== 'string' || value === '') {
      throw missing(ref, parsed ? `has no non-empty string field "${field}"` : `is not a JSON object, so it has no field "${field}"`);
    }
    return { secret: value };
  }
  if (parsed) {
    const password = parsed['password'];
    if (typeof password !== 'string' || password === '') throw missing(ref, 'is a JSON object without a non-empty "password" field');
    const username = parsed['username'];
    return { secret: password, username: typeof username === 'string' && username !== '' ? username : undefined };
  }
  if (raw === '') throw missing(ref, 'is empty');
  return { secret: raw };
}

function parseJsonObject(raw: string): Record<string, unknown> | undefined {
  if (!raw.trimStart().startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(raw);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function missing(ref: Keysource, what: string): PermanentDeliveryError {
  return new PermanentDeliveryError(`keysource ${describeKeysource(ref)} ${what}`, { reason: 'secret-missing' });
}
