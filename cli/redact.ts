/**
 * What the CLI may print of config: keysources are references and print as such
 * (`secret:mailrelay/acme#password`); an inline `value` keysource is masked wherever it appears.
 */
import type { EffectiveSettings } from '../lambda/core/config/resolve.js';
import type { Keysource } from '../lambda/core/config/schema.js';
import { describeKeysource } from '../lambda/core/keysources.js';

export const MASK = '***';

/** A deep copy of a stored item with every `{ "value": ... }` keysource masked. */
export function maskInlineValues(item: unknown): unknown {
  if (Array.isArray(item)) return item.map(maskInlineValues);
  if (item === null || typeof item !== 'object') return item;
  const entries = Object.entries(item as Record<string, unknown>);
  if (entries.length === 1 && entries[0]![0] === 'value' && typeof entries[0]![1] === 'string') return { value: MASK };
  return Object.fromEntries(entries.map(([k, v]) => [k, maskInlineValues(v)]));
}

/** A printable value of one effective setting field. */
export function displayValue(field: string, settings: EffectiveSettings): string | undefined {
  const [group, name] = field.split('.') as [keyof EffectiveSettings, string];
  const value = (settings[group] as unknown as Record<string, unknown> | undefined)?.[name];
  if (value === undefined) return undefined;
  if (field === 'auth.pass' || field === 'dkim.privateKey') return describeKeysource(value as Keysource);
  if (field === 'auth.messageKeysources') return (value as readonly string[]).length ? (value as readonly string[]).join(', ') : 'none';
  if (Array.isArray(value)) return value.join(', ');
  if (field === 'auth.oauth2') {
    const o = value as { clientId: string; tenantId?: string; tokenUrl?: string; scope?: string; clientSecret?: Keysource; refreshToken?: Keysource };
    return [
      `client ${o.clientId}`,
      o.tenantId ? `tenant ${o.tenantId}` : `token URL ${o.tokenUrl ?? '?'}`,
      o.scope ? `scope ${o.scope}` : undefined,
      o.clientSecret ? `secret ${describeKeysource(o.clientSecret)}` : undefined,
      o.refreshToken ? `refresh token ${describeKeysource(o.refreshToken)}` : undefined,
    ]
      .filter(Boolean)
      .join(', ');
  }
  return String(value);
}

/** Effective settings for `--json`: keysources as references, never values. */
export function printableSettings(settings: EffectiveSettings): unknown {
  const { auth } = settings;
  const ref = (k: Keysource | undefined): string | undefined => (k ? describeKeysource(k) : undefined);
  return {
    relay: settings.relay,
    relays: settings.relays,
    auth: {
      type: auth.type,
      user: auth.user,
      pass: auth.hookPass ? `hook secret ${auth.hookPass.fingerprint}` : ref(auth.pass),
      key: auth.key,
      ...(auth.hookFunction ? { hookFunction: auth.hookFunction } : {}),
      oauth2: auth.oauth2 ? { ...auth.oauth2, clientSecret: ref(auth.oauth2.clientSecret), refreshToken: ref(auth.oauth2.refreshToken) } : undefined,
      messageKeysources: auth.messageKeysources,
    },
    limits: settings.limits,
    delivery: settings.delivery,
    // The effective signer; the key as a reference, never its value.
    dkim: settings.dkim ? { ...settings.dkim, privateKey: ref(settings.dkim.privateKey) } : null,
  };
}
