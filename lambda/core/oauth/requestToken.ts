import {
  PermanentDeliveryError,
  TransientDeliveryError,
  type DeliveryError,
} from '../errors.js';
import { MAX_ERROR_TEXT_CHARS, MAX_RESPONSE_BYTES, MIN_REDACTED_SECRET_CHARS } from './constants.js';
import { displayUrl } from './tokenEndpointUrl.js';

/** One token request, ready to send. */
export interface TokenRequest {
  /** The token endpoint URL (see tokenEndpointUrl). */
  readonly endpoint: string;
  /** The `application/x-www-form-urlencoded` body (RFC 6749 §4.4.2 / §6). */
  readonly form: URLSearchParams;
  /** Values that must never reach an error message (client secret, refresh token): redacted from endpoint text. */
  readonly secrets: readonly string[];
  /** Who asked, for error messages: `client 'abc' (client credentials, user billing@acme.example)`. */
  readonly subject: string;
  readonly fetch: typeof fetch;
  readonly timeoutMs: number;
}

/** What a token endpoint granted. */
export interface TokenGrant {
  readonly accessToken: string;
  /** `expires_in` as the endpoint sent it, or undefined when absent or unusable. */
  readonly expiresInSeconds: number | undefined;
}

/**
 * The outcome of a token request. A failure carries the OAuth2 `error` code (RFC 6749 §5.2),
 * when the endpoint sent one, so the caller can tell "these credentials are wrong" from the rest.
 */
export type TokenResult =
  | { readonly ok: true; readonly grant: TokenGrant }
  | { readonly ok: false; readonly error: DeliveryError; readonly oauthError: string | undefined };

/** OAuth2 error codes that say the endpoint itself is struggling, whatever the HTTP status. */
const TRANSIENT_OAUTH_ERRORS = new Set(['temporarily_unavailable', 'server_error']);

/**
 * POST a token request and classify the answer. Never throws for endpoint or network trouble:
 *
 * - network errors, timeouts, HTTP 5xx, 408, 429, and OAuth `temporarily_unavailable` /
 *   `server_error` → {@link TransientDeliveryError} (reason `token-endpoint`);
 * - any other 4xx (`invalid_client`, `invalid_grant`, `unauthorized_client`, `invalid_scope`,
 *   `invalid_request`, ...) and redirects → {@link PermanentDeliveryError} (reason
 *   `token-endpoint`) carrying the endpoint's `error` and `error_description`;
 * - a 2xx whose `token_type` is not `Bearer` → permanent (XOAUTH2 sends bearer tokens only: the
 *   URL or client is misconfigured); a 2xx without a usable `access_token` (HTML from a proxy,
 *   truncated JSON, ...) → transient, because nothing says the next answer will be as bad, and
 *   the queue's redrive policy bounds the retries.
 *
 * Redirects are not followed: a 307/308 would re-send the client secret to another URL.
 * Error texts never contain the form's secrets nor any access token.
 */
export async function requestToken(request: TokenRequest): Promise<TokenResult> {
  const where = displayUrl(request.endpoint);
  let response: Response;
  let body: string | undefined;
  try {
    response = await request.fetch(request.endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: request.form.toString(),
      redirect: 'manual',
      signal: AbortSignal.timeout(request.timeoutMs),
    });
    body = await readBounded(response, MAX_RESPONSE_BYTES);
  } catch (error) {
    const timedOut = isAbort(error);
    const message = timedOut
      ? `token endpoint ${where} did not answer within ${request.timeoutMs} ms for ${request.subject}`
      : `token endpoint ${where} unreachable for ${request.subject}: ${networkText(error, request.secrets)}`;
    return failure(new TransientDeliveryError(message, { reason: 'token-endpoint' }, { cause: error }), undefined);
  }
  return classify(response, body, where, request);
}

function classify(response: Response, body: string | undefined, where: string, request: TokenRequest): TokenResult {
  const status = response.status;
  const json = parseObject(body);
  const oauthError = typeof json?.error === 'string' ? clean(json.error, request.secrets, 100) : undefined;
  const description = typeof json?.error_description === 'string' ? clean(json.error_description, request.secrets) : undefined;
  const endpointText = [oauthError, description].filter((part) => part !== undefined && part !== '').join(': ');
  const replyText = ['HTTP', String(status), endpointText !== '' ? endpointText : clean(response.statusText, request.secrets, 100)]
    .filter((part) => part !== '')
    .join(' ');

  if (status >= 200 && status < 300 && json !== undefined && json.error === undefined) {
    return grantFrom(json, status, where, request);
  }
  if (status >= 300 && status < 400) {
    return failure(
      new PermanentDeliveryError(
        `token endpoint ${where} redirected (HTTP ${status}) for ${request.subject}: set auth.oauth2.tokenUrl to the final URL`,
        { reason: 'token-endpoint', response: replyText },
      ),
      oauthError,
    );
  }
  const garbage = status >= 200 && status < 300 && oauthError === undefined;
  const transient =
    garbage || status >= 500 || status === 408 || status === 429 || (oauthError !== undefined && TRANSIENT_OAUTH_ERRORS.has(oauthError));
  if (transient) {
    const retryAfter = response.headers.get('retry-after');
    const hint = retryAfter !== null && /^\d{1,6}$/.test(retryAfter.trim()) ? `; retry after ${retryAfter.trim()} s` : '';
    const what = garbage ? `HTTP ${status} without a JSON token response` : replyText;
    return failure(
      new TransientDeliveryError(`token endpoint ${where} failed for ${request.subject}: ${what}${hint}`, { reason: 'token-endpoint', response: replyText }),
      oauthError,
    );
  }
  return failure(
    new PermanentDeliveryError(`token endpoint ${where} refused ${request.subject}: ${replyText}`, { reason: 'token-endpoint', response: replyText }),
    oauthError,
  );
}

function grantFrom(json: Record<string, unknown>, status: number, where: string, request: TokenRequest): TokenResult {
  const tokenType = json.token_type;
  if (tokenType !== undefined && (typeof tokenType !== 'string' || tokenType.toLowerCase() !== 'bearer')) {
    const shown = typeof tokenType === 'string' ? clean(tokenType, request.secrets, 40) : typeof tokenType;
    return failure(
      new PermanentDeliveryError(
        `token endpoint ${where} issued a '${shown}' token for ${request.subject}; XOAUTH2 needs a Bearer token (check auth.oauth2.tokenUrl and the client)`,
        { reason: 'token-endpoint', response: `HTTP ${status} token_type ${shown}` },
      ),
      undefined,
    );
  }
  const accessToken = json.access_token;
  // RFC 6750 b64token is a subset of visible ASCII; anything else would break the XOAUTH2 framing.
  if (typeof accessToken !== 'string' || !/^[\x21-\x7E]{1,16384}$/.test(accessToken)) {
    return failure(
      new TransientDeliveryError(`token endpoint ${where} answered HTTP ${status} without a usable access_token for ${request.subject}`, {
        reason: 'token-endpoint',
        response: `HTTP ${status} without access_token`,
      }),
      undefined,
    );
  }
  return { ok: true, grant: { accessToken, expiresInSeconds: parseExpiresIn(json.expires_in) } };
}

/** `expires_in` as a number of seconds; some endpoints send it as a numeric string. */
export function parseExpiresIn(value: unknown): number | undefined {
  const seconds = typeof value === 'string' && /^\d{1,10}$/.test(value.trim()) ? Number(value.trim()) : value;
  return typeof seconds === 'number' && Number.isFinite(seconds) && seconds >= 0 ? seconds : undefined;
}

function failure(error: DeliveryError, oauthError: string | undefined): TokenResult {
  return { ok: false, error, oauthError };
}

function parseObject(body: string | undefined): Record<string, unknown> | undefined {
  if (body === undefined || body.trim() === '') return undefined;
  try {
    const value: unknown = JSON.parse(body);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The body as text, or undefined when it is larger than `maxBytes`. */
async function readBounded(response: Response, maxBytes: number): Promise<string | undefined> {
  if (response.body === null) return '';
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let total = 0;
  let text = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    text += decoder.decode(value, { stream: true });
  }
  return text + decoder.decode();
}

function isAbort(error: unknown): boolean {
  const name = (error as { name?: unknown } | null)?.name;
  return name === 'TimeoutError' || name === 'AbortError';
}

/** `fetch failed` says nothing: undici puts the real reason (`connect ECONNREFUSED ...`) in `cause`. */
function networkText(error: unknown, secrets: readonly string[]): string {
  const cause = (error as { cause?: unknown } | null)?.cause;
  const inner = cause instanceof Error ? cause.message : undefined;
  const outer = error instanceof Error ? error.message : String(error);
  return clean(inner !== undefined && inner !== '' ? inner : outer, secrets, 200);
}

/**
 * Endpoint text made fit for a log line and a DLQ attribute: known secrets replaced by
 * `[redacted]`, controls and line breaks (Microsoft puts CRLF before its Trace ID) turned into
 * spaces, bounded in length.
 */
export function clean(text: string, secrets: readonly string[], max = MAX_ERROR_TEXT_CHARS): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length >= MIN_REDACTED_SECRET_CHARS) out = out.split(secret).join('[redacted]');
  }
  out = out
    .replace(/[\u0000-\u001F\u007F-\u009F\u2028\u2029]+/gu, ' ')
    .replace(/ {2,}/g, ' ')
    .trim();
  return out.length > max ? `${out.slice(0, max - 1)}…` : out;
}
