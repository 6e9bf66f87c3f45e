/**
 * A local OAuth2 token endpoint (RFC 6749 §4.4 client credentials and §6 refresh token) on
 * loopback, standing in for Microsoft's or Google's in tests and in `npm start`. It issues
 * opaque random bearer tokens with an expiry, which a local SMTP server checks with
 * {@link OAuthTokenEndpoint.isValid} when a client sends AUTH XOAUTH2.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenOnLoopback, readBoundedBody } from './loopback.js';

export interface OAuthTokenEndpointOptions {
  /** Registered clients: client id → client secret (`''` for a public client, which sends none). */
  readonly clients: Readonly<Record<string, string>>;
  /** Refresh tokens that are accepted: refresh token → the client id it was issued to. @default {} */
  readonly refreshTokens?: Readonly<Record<string, string>>;
  /** `expires_in` of the tokens issued (may be changed later through the returned object). @default 3600 */
  readonly expiresInSeconds?: number;
  /** Scopes a request may ask for (`invalid_scope` otherwise). @default any scope */
  readonly scopes?: readonly string[];
  /** The endpoint's clock in ms since the epoch: decides which tokens are still valid. @default Date.now */
  readonly now?: () => number;
  /** @default '/token' */
  readonly path?: string;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** @default 0 (an ephemeral port) */
  readonly port?: number;
}

/** An answer scripted with {@link OAuthTokenEndpoint.failNext}, sent instead of the real one. */
export interface ScriptedResponse {
  readonly status: number;
  /** A string is sent as is, anything else as JSON. @default {} */
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  /** Wait this long before answering: a stand-in for a slow endpoint. @default 0 */
  readonly delayMs?: number;
}

/** One request the endpoint received (secrets left out). */
export interface RecordedTokenRequest {
  readonly grantType: string | undefined;
  readonly clientId: string | undefined;
  readonly scope: string | undefined;
  /** How the client authenticated: `post` (client_secret in the body), `basic`, or `none`. */
  readonly clientAuth: 'post' | 'basic' | 'none';
  readonly status: number;
}

/** What the endpoint knows about a token it issued. */
export interface IssuedToken {
  readonly clientId: string;
  readonly grantType: 'client_credentials' | 'refresh_token';
  readonly scope: string | undefined;
  readonly expiresAtMs: number;
}

export interface OAuthTokenEndpoint {
  /** The token URL, e.g. `http://127.0.0.1:49152/token`. */
  readonly url: string;
  /** Token requests received (any answer, scripted ones included). */
  readonly requestCount: number;
  /** Access tokens issued. */
  readonly issuedCount: number;
  readonly requests: readonly RecordedTokenRequest[];
  /** `expires_in` of the next tokens issued. */
  expiresInSeconds: number;
  /** True when the endpoint issued `token`, it has not expired by the endpoint's clock and was not revoked. */
  isValid(token: string): boolean;
  tokenInfo(token: string): IssuedToken | undefined;
  /** Revoke one access token; true when it was known. */
  revoke(token: string): boolean;
  /** Revoke every access token issued so far. */
  revokeAll(): void;
  /** Answer the next requests with these responses, in order, instead of handling them. */
  failNext(...responses: ScriptedResponse[]): void;
  /** Register a client or rotate its secret. */
  setClientSecret(clientId: string, secret: string): void;
  /** Accept a refresh token for a client (or stop accepting it with `undefined`). */
  setRefreshToken(refreshToken: string, clientId: string | undefined): void;
  stop(): Promise<void>;
}

const MAX_BODY_BYTES = 64 * 1024;

/**
 * Start the endpoint on 127.0.0.1 (ephemeral port by default).
 * @example
 * const endpoint = await startOAuthTokenEndpoint({ clients: { app: 's3cret' } });
 * // POST endpoint.url grant_type=client_credentials&client_id=app&client_secret=s3cret&scope=x
 * endpoint.isValid(token); // in the SMTP server's onAuth for XOAUTH2
 * await endpoint.stop();
 */
export async function startOAuthTokenEndpoint(options: OAuthTokenEndpointOptions): Promise<OAuthTokenEndpoint> {
  const clients = new Map(Object.entries(options.clients));
  const refreshTokens = new Map(Object.entries(options.refreshTokens ?? {}));
  const now = options.now ?? Date.now;
  const path = options.path ?? '/token';
  const tokens = new Map<string, IssuedToken>();
  const scripted: ScriptedResponse[] = [];
  const requests: RecordedTokenRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let expiresInSeconds = options.expiresInSeconds ?? 3600;
  let issuedCount = 0;

  const send = (res: ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void => {
    const text = typeof body === 'string' ? body : JSON.stringify(body ?? {});
    res.writeHead(status, {
      'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8',
      'cache-control': 'no-store',
      pragma: 'no-cache',
      ...headers,
    });
    res.end(text);
  };
  const oauthError = (error: string, description: string) => ({ error, error_description: description });

  const handle = (req: IncomingMessage, res: ServerResponse, raw: string): void => {
    const params = new URLSearchParams(raw);
    const basic = parseBasic(req.headers.authorization);
    const bodySecret = params.get('client_secret') ?? undefined;
    const clientId = basic?.id ?? params.get('client_id') ?? undefined;
    const grantType = params.get('grant_type') ?? undefined;
    const scope = params.get('scope') ?? undefined;
    const clientAuth = basic !== undefined ? 'basic' : bodySecret !== undefined ? 'post' : 'none';
    const answer = (status: number, body: unknown, headers?: Readonly<Record<string, string>>): void => {
      requests.push({ grantType, clientId, scope, clientAuth, status });
      send(res, status, body, headers);
    };

    const script = scripted.shift();
    if (script !== undefined) {
      requests.push({ grantType, clientId, scope, clientAuth, status: script.status });
      const reply = (): void => send(res, script.status, script.body, script.headers);
      if ((script.delayMs ?? 0) > 0) {
        const timer = setTimeout(() => {
          timers.delete(timer);
          if (!res.destroyed) reply();
        }, script.delayMs);
        timers.add(timer);
      } else {
        reply();
      }
      return;
    }

    if (!/^application\/x-www-form-urlencoded\b/i.test(req.headers['content-type'] ?? '')) {
      return answer(400, oauthError('invalid_request', 'the body must be application/x-www-form-urlencoded'));
    }
    if (basic !== undefined && bodySecret !== undefined) {
      return answer(400, oauthError('invalid_request', 'use one client authentication method, not two'));
    }
    if (clientId === undefined || clientId === '') return answer(400, oauthError('invalid_request', "missing parameter 'client_id'"));
    const registered = clients.get(clientId);
    const presented = basic?.secret ?? bodySecret;
    const unauthorized = basic !== undefined ? { 'www-authenticate': 'Basic realm="token"' } : undefined;
    if (registered === undefined) return answer(401, oauthError('invalid_client', `unknown client '${clientId}'`), unauthorized);
    if (registered !== '' && (presented === undefined || !sameSecret(presented, registered))) {
      return answer(401, oauthError('invalid_client', 'client authentication failed: invalid client secret'), unauthorized);
    }
    if (options.scopes !== undefined && scope !== undefined && !scope.split(' ').every((s) => options.scopes?.includes(s))) {
      return answer(400, oauthError('invalid_scope', `scope '${scope}' is not allowed for this client`));
    }

    if (grantType === 'client_credentials') {
      if (registered === '') return answer(400, oauthError('unauthorized_client', 'a public client cannot use client credentials'));
      if (scope === undefined || scope === '') return answer(400, oauthError('invalid_request', "missing parameter 'scope'"));
      return answer(200, issue(clientId, 'client_credentials', scope));
    }
    if (grantType === 'refresh_token') {
      const refreshToken = params.get('refresh_token');
      if (refreshToken === null || refreshToken === '') return answer(400, oauthError('invalid_request', "missing parameter 'refresh_token'"));
      if (refreshTokens.get(refreshToken) !== clientId) return answer(400, oauthError('invalid_grant', 'Token has been expired or revoked.'));
      return answer(200, issue(clientId, 'refresh_token', scope));
    }
    return answer(400, oauthError(grantType === undefined ? 'invalid_request' : 'unsupported_grant_type', `grant_type '${grantType ?? ''}' is not supported`));
  };

  const issue = (clientId: string, grantType: IssuedToken['grantType'], scope: string | undefined) => {
    const token = randomBytes(32).toString('base64url');
    tokens.set(token, { clientId, grantType, scope, expiresAtMs: now() + expiresInSeconds * 1000 });
    issuedCount += 1;
    return { access_token: token, token_type: 'Bearer', expires_in: expiresInSeconds, ...(scope !== undefined ? { scope } : {}) };
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== path) return send(res, 404, oauthError('invalid_request', 'not found'));
    if (req.method !== 'POST') return send(res, 405, oauthError('invalid_request', 'use POST'), { allow: 'POST' });
    readBoundedBody(req, MAX_BODY_BYTES).then(
      (body) => (body === undefined ? send(res, 413, oauthError('invalid_request', 'request too large')) : handle(req, res, body.toString('utf8'))),
      () => res.destroy(),
    );
  });

  const address = await listenOnLoopback(server, options.port ?? 0, options.host ?? '127.0.0.1');
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  return {
    url: `http://${host}:${address.port}${path}`,
    get requestCount() {
      return requests.length;
    },
    get issuedCount() {
      return issuedCount;
    },
    requests,
    get expiresInSeconds() {
      return expiresInSeconds;
    },
    set expiresInSeconds(seconds: number) {
      expiresInSeconds = seconds;
    },
    isValid(token) {
      const info = tokens.get(token);
      return info !== undefined && now() < info.expiresAtMs;
    },
    tokenInfo: (token) => tokens.get(token),
    revoke: (token) => tokens.delete(token),
    revokeAll: () => tokens.clear(),
    failNext: (...responses) => {
      scripted.push(...responses);
    },
    setClientSecret: (clientId, secret) => {
      clients.set(clientId, secret);
    },
    setRefreshToken: (refreshToken, clientId) => {
      if (clientId === undefined) refreshTokens.delete(refreshToken);
      else refreshTokens.set(refreshToken, clientId);
    },
    stop: async () => {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** `Authorization: Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1). */
function parseBasic(header: string | undefined): { id: string; secret: string } | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (match?.[1] === undefined) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  try {
    return { id: decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' ')), secret: decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' ')) };
  } catch {
    return undefined;
  }
}

function sameSecret(a: string, b: string): boolean {
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(a), digest(b));
}
