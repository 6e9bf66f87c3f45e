import { createHash } from 'node:crypto';
import type { Keysource, OAuth2Client } from '../config/schema.js';
import { PermanentDeliveryError } from '../errors.js';
import type { ReadOptions, TokenProvider } from '../ports.js';
import {
  DEFAULT_REFRESH_MARGIN_SECONDS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_TOKEN_LIFETIME_SECONDS,
  MAX_CACHE_ENTRIES,
} from './constants.js';
import { requestToken, type TokenResult } from './requestToken.js';
import { tokenEndpointUrl } from './tokenEndpointUrl.js';

export interface OAuth2TokenProviderOptions {
  /**
   * Reads the string a keysource points at (the client secret, the refresh token), the way
   * `pass` is read. Called once per token request, not per caller; with `forceRefresh: true`
   * after a forced renewal or a credential rejection, because credentials rotate. Its errors
   * (a missing secret, AWS throttling) are passed through unchanged.
   */
  readonly resolveSecret: (ref: Keysource, options?: ReadOptions) => Promise<string>;
  /** @default globalThis.fetch */
  readonly fetch?: typeof fetch;
  /** Milliseconds since the epoch. @default Date.now */
  readonly now?: () => number;
  /**
   * Renew a cached token this many seconds before it expires; never more than half the token's
   * lifetime, so a short-lived token is still reused. 0 keeps tokens until their last second.
   * @default 300
   */
  readonly refreshMarginSeconds?: number;
  /** Timeout of one token request (connect, headers and body), via `AbortSignal.timeout`. @default 10000 */
  readonly requestTimeoutMs?: number;
}

/** The OAuth2 flow a client description selects. */
export type OAuth2Flow = 'client_credentials' | 'refresh_token';

/**
 * The flow of a client: `refresh_token` when it carries a refresh token (Google, delegated
 * Microsoft; its `scope`, if any, is sent along to narrow the grant), else `client_credentials`
 * with its `scope` (Microsoft 365 `https://outlook.office365.com/.default` with the
 * `SMTP.SendAsApp` application permission).
 */
export function oauth2Flow(client: Pick<OAuth2Client, 'refreshToken'>): OAuth2Flow {
  return client.refreshToken !== undefined ? 'refresh_token' : 'client_credentials';
}

/** Endpoint answers that may come from a stale secret cache rather than from a broken config. */
const CREDENTIAL_ERRORS = new Set(['invalid_client', 'invalid_grant', 'unauthorized_client']);

/** The secrets a token request sends, as read from their keysources. */
export interface OAuth2Credentials {
  readonly clientSecret: string | undefined;
  readonly refreshToken: string | undefined;
}

interface Fetched {
  readonly accessToken: string;
  readonly expiresAtMs: number;
}

interface InFlight {
  readonly promise: Promise<string>;
  readonly forced: boolean;
  readonly generation: number;
}

interface CacheEntry {
  token: string | undefined;
  /** The token is served while `now() < expiresAtMs` (its expiry minus the margin). */
  expiresAtMs: number;
  inFlight: InFlight | undefined;
  /** Bumped by every request started, so a request overtaken by a forced one never overwrites it. */
  generation: number;
}

/**
 * A {@link TokenProvider} that obtains XOAUTH2 access tokens from an OAuth2 token endpoint
 * (RFC 6749 client credentials §4.4, or refresh token §6), with the client authenticating by
 * `client_secret` in the form body (`client_secret_post`, which Microsoft and Google accept).
 *
 * - Tokens are cached per client (token endpoint, client id, scope, flow, refresh-token keysource),
 *   not per `auth.user`, until `expires_in` minus the refresh margin; at most MAX_CACHE_ENTRIES,
 *   least recently used first out. The cache key is hashed: a `value` keysource never sits in
 *   memory as a map key.
 * - Concurrent callers share one request (single flight). `forceRefresh` (after the relay
 *   rejected a token) skips the cache once and re-reads the client secret and refresh token,
 *   and still single-flights: 50 concurrent forced callers make one request.
 * - A failed request caches nothing (and drops the token it was replacing): the next call retries.
 * - When the endpoint answers `invalid_client`, `invalid_grant` or `unauthorized_client` to
 *   credentials read from the secrets cache, they are read again with `forceRefresh` and, if
 *   they changed (rotated), the request is made once more before the error is thrown.
 * - Errors are {@link TransientDeliveryError} or {@link PermanentDeliveryError} with reason
 *   `token-endpoint` (see requestToken for the classification) and the endpoint's `error` /
 *   `error_description`; `invalid-config` when the client description cannot work. They never
 *   contain the client secret, the refresh token or an access token.
 *
 * Refresh tokens rotate: Google may return a new `refresh_token` (its old one normally stays
 * valid), and Microsoft returns one on every refresh (the old one is not revoked but still ends
 * 90 days after it was issued). A returned `refresh_token` is ignored: the configured keysource
 * keeps being used, because the port cannot write one back. For Microsoft 365 prefer client
 * credentials (`SMTP.SendAsApp`), which need no refresh token. Google needs the scope
 * `https://mail.google.com/`, the only one that allows SMTP.
 *
 * @example
 * const tokens = createOAuth2TokenProvider({ resolveSecret: (ref, o) => readPassword(secrets, ref, o) });
 * const token = await tokens.getAccessToken(
 *   { tenantId: 'contoso.onmicrosoft.com', clientId: '00000000-...', clientSecret: { secret: 'mailrelay/m365' },
 *     scope: 'https://outlook.office365.com/.default' },
 *   'billing@contoso.com',
 * );
 */
export function createOAuth2TokenProvider(options: OAuth2TokenProviderOptions): TokenProvider & { readonly cacheSize: number } {
  const settings = checkOptions(options);
  const cache = new Map<string, CacheEntry>();

  async function fetchToken(client: OAuth2Client, user: string, forced: boolean): Promise<Fetched> {
    const flow = oauth2Flow(client);
    const endpoint = tokenEndpointUrl(client);
    const subject = `client '${client.clientId}' (${flow === 'refresh_token' ? 'refresh token' : 'client credentials'}, user ${user})`;
    if (flow === 'client_credentials' && client.scope === undefined) {
      throw new PermanentDeliveryError(`auth.oauth2.scope is required for ${subject}: give scope (client credentials) or refreshToken`, { reason: 'invalid-config' });
    }
    if (flow === 'client_credentials' && client.clientSecret === undefined) {
      throw new PermanentDeliveryError(`auth.oauth2.clientSecret is required for the client-credentials flow of ${subject}`, { reason: 'invalid-config' });
    }

    const attempt = async (credentials: OAuth2Credentials): Promise<{ result: TokenResult; startedAtMs: number }> => {
      const startedAtMs = settings.now();
      const result = await requestToken({
        endpoint,
        form: tokenForm(client, flow, credentials),
        secrets: [credentials.clientSecret, credentials.refreshToken].filter((value) => value !== undefined),
        subject,
        fetch: settings.fetch,
        timeoutMs: settings.requestTimeoutMs,
      });
      return { result, startedAtMs };
    };

    const credentials = await readCredentials(client, forced, subject);
    let { result, startedAtMs } = await attempt(credentials);
    if (!result.ok && !forced && result.oauthError !== undefined && CREDENTIAL_ERRORS.has(result.oauthError)) {
      const reread = await readCredentials(client, true, subject);
      if (reread.clientSecret !== credentials.clientSecret || reread.refreshToken !== credentials.refreshToken) {
        ({ result, startedAtMs } = await attempt(reread));
      }
    }
    if (!result.ok) throw result.error;

    const lifetimeSeconds = result.grant.expiresInSeconds ?? DEFAULT_TOKEN_LIFETIME_SECONDS;
    const marginSeconds = Math.min(settings.refreshMarginSeconds, lifetimeSeconds / 2);
    // Counted from when the request left: the endpoint's clock started no earlier.
    return { accessToken: result.grant.accessToken, expiresAtMs: startedAtMs + (lifetimeSeconds - marginSeconds) * 1000 };
  }

  async function readCredentials(client: OAuth2Client, forceRefresh: boolean, subject: string): Promise<OAuth2Credentials> {
    const read = async (ref: Keysource | undefined, field: string): Promise<string | undefined> => {
      if (ref === undefined) return undefined;
      // Secrets pasted from files often end in a newline; client secrets and refresh tokens never contain white space at either end.
      const value = (await settings.resolveSecret(ref, { forceRefresh })).trim();
      if (value === '') throw new PermanentDeliveryError(`auth.oauth2.${field} of ${subject} is empty`, { reason: 'secret-missing' });
      return value;
    };
    const [clientSecret, refreshToken] = await Promise.all([read(client.clientSecret, 'clientSecret'), read(client.refreshToken, 'refreshToken')]);
    return { clientSecret, refreshToken };
  }

  function entryFor(key: string): CacheEntry {
    const existing = cache.get(key);
    if (existing !== undefined) {
      // Least recently used goes first: re-inserting moves the key to the young end of the Map.
      cache.delete(key);
      cache.set(key, existing);
      return existing;
    }
    if (cache.size >= MAX_CACHE_ENTRIES) evict();
    const entry: CacheEntry = { token: undefined, expiresAtMs: 0, inFlight: undefined, generation: 0 };
    cache.set(key, entry);
    return entry;
  }

  function evict(): void {
    const nowMs = settings.now();
    for (const [key, entry] of cache) {
      if (entry.inFlight === undefined && entry.expiresAtMs <= nowMs) cache.delete(key);
    }
    // Still full: drop the least recently used idle entries (a Map iterates in insertion order).
    for (const [key, entry] of cache) {
      if (cache.size < MAX_CACHE_ENTRIES) break;
      if (entry.inFlight === undefined) cache.delete(key);
    }
  }

  return {
    get cacheSize(): number {
      return cache.size;
    },
    getAccessToken(client: OAuth2Client, user: string, readOptions?: ReadOptions): Promise<string> {
      const forced = readOptions?.forceRefresh === true;
      let key: string;
      try {
        key = cacheKey(client);
      } catch (error) {
        return Promise.reject(error);
      }
      const entry = entryFor(key);
      if (!forced && entry.token !== undefined && settings.now() < entry.expiresAtMs) return Promise.resolve(entry.token);
      // A forced caller may not join a plain request: that one reads secrets from their cache.
      if (entry.inFlight !== undefined && (entry.inFlight.forced || !forced)) return entry.inFlight.promise;

      const generation = ++entry.generation;
      const current = (): boolean => entry.inFlight?.generation === generation;
      const promise = fetchToken(client, user, forced).then(
        (fetched) => {
          if (current()) {
            entry.inFlight = undefined;
            entry.token = fetched.accessToken;
            entry.expiresAtMs = fetched.expiresAtMs;
          }
          return fetched.accessToken;
        },
        (error: unknown) => {
          if (current()) {
            entry.inFlight = undefined;
            entry.token = undefined;
            entry.expiresAtMs = 0;
            if (cache.get(key) === entry) cache.delete(key);
          }
          throw error;
        },
      );
      entry.inFlight = { promise, forced, generation };
      return promise;
    },
  };
}

/**
 * The token request body. Client credentials: `grant_type=client_credentials`, `client_id`,
 * `client_secret`, `scope`. Refresh token: `grant_type=refresh_token`, `client_id`,
 * `client_secret` (if any: public clients have none), `refresh_token`, and `scope` if set.
 */
export function tokenForm(client: OAuth2Client, flow: OAuth2Flow, credentials: OAuth2Credentials): URLSearchParams {
  const form = new URLSearchParams({ grant_type: flow, client_id: client.clientId });
  if (credentials.clientSecret !== undefined) form.set('client_secret', credentials.clientSecret);
  if (flow === 'refresh_token' && credentials.refreshToken !== undefined) form.set('refresh_token', credentials.refreshToken);
  if (client.scope !== undefined) form.set('scope', client.scope);
  return form;
}

/**
 * One token per client: (token endpoint, client id, scope, flow, refresh-token keysource). Never
 * the mailbox (`auth.user`), which a message may choose: a client-credentials token serves every
 * mailbox the app may send as, and a refresh token's access token is its owner's whatever user
 * the message names. So messages cannot multiply token requests or cache entries.
 */
function cacheKey(client: OAuth2Client): string {
  const flow = oauth2Flow(client);
  const parts = [tokenEndpointUrl(client), client.clientId, client.scope ?? null, flow, flow === 'refresh_token' ? client.refreshToken : null];
  return createHash('sha256').update(JSON.stringify(parts)).digest('base64url');
}

interface Settings {
  readonly resolveSecret: OAuth2TokenProviderOptions['resolveSecret'];
  readonly fetch: typeof fetch;
  readonly now: () => number;
  readonly refreshMarginSeconds: number;
  readonly requestTimeoutMs: number;
}

const OPTION_NAMES = new Set(['resolveSecret', 'fetch', 'now', 'refreshMarginSeconds', 'requestTimeoutMs']);

/** Defaults merged with the caller's options, and a strict check that catches typos. */
function checkOptions(options: OAuth2TokenProviderOptions): Settings {
  for (const name of Object.keys(options)) {
    if (!OPTION_NAMES.has(name)) throw new TypeError(`createOAuth2TokenProvider: unknown option '${name}'`);
  }
  if (typeof options.resolveSecret !== 'function') throw new TypeError('createOAuth2TokenProvider: resolveSecret must be a function');
  const refreshMarginSeconds = options.refreshMarginSeconds ?? DEFAULT_REFRESH_MARGIN_SECONDS;
  if (!Number.isFinite(refreshMarginSeconds) || refreshMarginSeconds < 0) {
    throw new RangeError('createOAuth2TokenProvider: refreshMarginSeconds must be a finite number >= 0');
  }
  const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  if (!Number.isFinite(requestTimeoutMs) || requestTimeoutMs <= 0) {
    throw new RangeError('createOAuth2TokenProvider: requestTimeoutMs must be a finite number > 0');
  }
  const fetchImpl = options.fetch ?? globalThis.fetch;
  if (typeof fetchImpl !== 'function') throw new TypeError('createOAuth2TokenProvider: no fetch available; pass options.fetch');
  return { resolveSecret: options.resolveSecret, fetch: fetchImpl, now: options.now ?? Date.now, refreshMarginSeconds, requestTimeoutMs };
}
