import type { Keysource, OAuth2Client } from '../../../lambda/core/config/schema.js';
import type { ReadOptions } from '../../../lambda/core/ports.js';

/**
 * An in-memory secret store with a stale cache, the way a Secrets Manager adapter behaves:
 * `cached` answers plain reads, `current` answers forced reads (and then refreshes the cache).
 */
export function fakeSecrets(initial: Record<string, string>) {
  const current = new Map(Object.entries(initial));
  const cached = new Map(current);
  const calls: { id: string; forceRefresh: boolean }[] = [];
  return {
    calls,
    /** Rotate a secret at its source; plain reads keep seeing the old value until a forced read. */
    rotate(id: string, value: string): void {
      current.set(id, value);
    },
    async resolveSecret(ref: Keysource, options?: ReadOptions): Promise<string> {
      if ('value' in ref) return ref.value;
      if (!('secret' in ref)) throw new Error('fakeSecrets only knows secret and value keysources');
      const forceRefresh = options?.forceRefresh === true;
      calls.push({ id: ref.secret, forceRefresh });
      if (forceRefresh) cached.set(ref.secret, current.get(ref.secret) ?? '');
      const value = cached.get(ref.secret);
      if (value === undefined) throw new Error(`no secret ${ref.secret}`);
      return value;
    },
  };
}

export const CLIENT_ID = 'mailrelay-app';
export const CLIENT_SECRET = 'cs-9f8e7d6c5b4a-secret-value';
export const REFRESH_TOKEN = '1//rt-0a1b2c3d4e5f-refresh-value';
export const SCOPE = 'https://outlook.office365.com/.default';
export const USER = 'billing@acme.example';

export function clientCredentials(tokenUrl: string, overrides: Partial<OAuth2Client> = {}): OAuth2Client {
  return { tokenUrl, allowLoopbackHttp: true, clientId: CLIENT_ID, clientSecret: { secret: 'mailrelay/oauth' }, scope: SCOPE, ...overrides };
}

export function refreshTokenClient(tokenUrl: string, overrides: Partial<OAuth2Client> = {}): OAuth2Client {
  return { tokenUrl, allowLoopbackHttp: true, clientId: CLIENT_ID, clientSecret: { secret: 'mailrelay/oauth' }, refreshToken: { secret: 'mailrelay/refresh' }, ...overrides };
}

/** A settable clock in ms. */
export function manualClock(start = 1_700_000_000_000) {
  let nowMs = start;
  return {
    now: () => nowMs,
    advanceSeconds(seconds: number): void {
      nowMs += seconds * 1000;
    },
  };
}

/** The rejection of a promise, for assertions on the error object itself. */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject');
}
