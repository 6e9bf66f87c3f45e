/**
 * Relays one validated message: resolve its routes, compose it once, and run one SMTP
 * transaction per route (in parallel), with one forced credential refresh after an
 * authentication failure. Returns a result per recipient; the caller decides what the message's
 * fate is (see {@link summarizeRelay}).
 */
import { resolveRoutes, type RouteGroup } from './config/resolve.js';
import { buildCredentials, type CredentialSources } from './credentials.js';
import { isDeliveryError, TransientDeliveryError, type DeliveryError, type FailureReason } from './errors.js';
import type { MailAddress, QueueMessage } from './message/types.js';
import type { ConfigStore } from './ports.js';
import { classifySmtpError, isTransientReply } from './smtp/classify.js';
import { composeMessage } from './smtp/compose.js';
import type { SmtpPool } from './smtp/pool.js';
import type { SessionCredentials, SmtpSession, TransactionResult } from './smtp/session.js';

export type RecipientStatus = 'delivered' | 'deferred' | 'failed';

export interface RecipientResult {
  readonly address: string;
  readonly status: RecipientStatus;
  /** The route label (`host:port tls MECH user=...`), absent when routing itself failed. */
  readonly route?: string | undefined;
  readonly mechanism?: string | undefined;
  /** The route's `auth.key` (Momentum's lookup key): logged, never secret. */
  readonly authKey?: string | undefined;
  readonly reason?: FailureReason | undefined;
  readonly responseCode?: number | undefined;
  readonly response?: string | undefined;
  /** Human-readable explanation for logs and the DLQ. Never holds a secret. */
  readonly detail?: string | undefined;
}

export interface RouteAttempt {
  readonly route: string;
  readonly mechanism: string;
  readonly recipients: number;
  readonly durationMs: number;
  readonly authRetried: boolean;
  readonly authKey?: string | undefined;
}

export interface RelayResult {
  readonly recipients: readonly RecipientResult[];
  readonly attempts: readonly RouteAttempt[];
}

export interface RelayDependencies extends CredentialSources {
  readonly config: ConfigStore;
  readonly pool: SmtpPool;
}

export interface RelayOptions {
  /** Recipients already settled by an earlier attempt (delivered or failed): never sent again. */
  readonly skip?: ReadonlySet<string> | undefined;
  /** Asked once a connection is in hand, right before MAIL FROM: false defers the route as `out-of-time`. */
  readonly mayStart?: (() => boolean) | undefined;
}

/**
 * @example
 * const result = await relayMessage(message, { config, secrets, pool });
 * const verdict = summarizeRelay(result); // 'delivered' | 'deferred' | 'failed'
 */
export async function relayMessage(message: QueueMessage, deps: RelayDependencies, options: RelayOptions = {}): Promise<RelayResult> {
  // Addresses are compared exactly as parsed (domain lower-cased, local part as given): local parts
  // are case-sensitive, and the parser keeps `Bob@x` and `bob@x` as two recipients.
  const pending = message.envelope.to.filter((r) => !options.skip?.has(r.address));
  if (pending.length === 0) return { recipients: [], attempts: [] };

  const { routes, failures } = await resolveRoutes(
    { binding: message.binding, senderDomain: message.sender.domain, recipients: pending, auth: message.auth },
    deps.config,
  );
  const results: RecipientResult[] = failures.flatMap((failure) =>
    failure.recipients.map((r) => ({ address: r.address, status: 'failed' as const, reason: 'invalid-config' as const, detail: failure.error.message })),
  );
  if (routes.length === 0) return { recipients: results, attempts: [] };

  const raw = await composeMessage(message);
  const attempts = await Promise.all(routes.map((route) => deliverRoute(route, message.envelope.from, raw, deps, options.mayStart)));
  for (const attempt of attempts) results.push(...attempt.recipients);
  return { recipients: results, attempts: attempts.map((a) => a.attempt) };
}

/** The message's fate: deferred if any recipient may still succeed later, else failed if any failed. */
export function summarizeRelay(result: RelayResult): RecipientStatus {
  if (result.recipients.some((r) => r.status === 'deferred')) return 'deferred';
  if (result.recipients.some((r) => r.status === 'failed')) return 'failed';
  return 'delivered';
}

async function deliverRoute(
  route: RouteGroup,
  from: string,
  raw: Buffer,
  deps: RelayDependencies,
  mayStart?: () => boolean,
): Promise<{ recipients: RecipientResult[]; attempt: RouteAttempt }> {
  const started = Date.now();
  const mechanism = route.settings.auth.type;
  const authKey = route.settings.auth.key;
  const to = route.recipients.map((r: MailAddress) => r.address);
  let authRetried = false;

  // Whether nodemailer already renewed the XOAUTH2 token inside the AUTH exchange (after the
  // relay's 334 error challenge): then a second attempt would only repeat it.
  let tokenRenewed = false;
  const credentials = async (forceRefresh: boolean): Promise<SessionCredentials> => {
    const creds = await buildCredentials(route.settings.auth, deps, forceRefresh);
    if (creds.mechanism !== 'XOAUTH2') return creds;
    return {
      ...creds,
      getToken: (renew) => {
        if (renew) tokenRenewed = true;
        return creds.getToken(renew);
      },
    };
  };
  const attemptOnce = async (forceRefresh: boolean) => {
    const sent = await deps.pool.withSession(
      route,
      () => credentials(forceRefresh),
      // Waiting for a pooled connection may have used the invocation's time up.
      (session) => (mayStart && !mayStart() ? Promise.resolve(undefined) : sendInChunks(session, from, to, raw, mayStart)),
    );
    if (!sent) throw new TransientDeliveryError('not enough time left to start the SMTP transaction', { reason: 'out-of-time' });
    return sent;
  };

  let recipients: RecipientResult[];
  try {
    let result;
    try {
      result = await attemptOnce(false);
    } catch (error) {
      if (!isRetryable(error)) throw error;
      // Credentials rotate: after an authentication failure, re-read the secret or token once —
      // unless XOAUTH2 already renewed its token inside the exchange (334 challenge). A relay that
      // answers a stale token with a bare 535 gets one attempt with a forced refresh here. A pooled
      // connection the relay had closed is replaced by a fresh one the same way.
      if (isAuthFailure(error) && tokenRenewed) throw error;
      authRetried = isAuthFailure(error);
      result = await attemptOnce(authRetried);
    }
    const accepted = new Set(result.accepted);
    const rejected = new Map(result.rejected.map((r) => [r.address, r]));
    recipients = to.map((address) => {
      if (accepted.has(address)) return { address, status: 'delivered', route: route.label, mechanism, authKey, responseCode: 250, response: result.response };
      const r = rejected.get(address);
      const transient = isTransientReply(r?.responseCode);
      return {
        address,
        status: transient ? 'deferred' : 'failed',
        route: route.label,
        mechanism,
        authKey,
        reason: transient ? 'smtp-transient' : 'smtp-permanent',
        responseCode: r?.responseCode,
        response: r?.response,
        detail: `recipient ${transient ? 'deferred' : 'rejected'} at RCPT TO`,
      };
    });
  } catch (error) {
    const failure: DeliveryError = isDeliveryError(error)
      ? error
      : new TransientDeliveryError(`delivery failed: ${(error as Error).message ?? String(error)}`, { reason: 'connection' }, { cause: error });
    const status: RecipientStatus = failure instanceof TransientDeliveryError ? 'deferred' : 'failed';
    recipients = to.map((address) => ({
      address,
      status,
      route: route.label,
      mechanism,
      authKey,
      reason: failure.reason,
      responseCode: failure.responseCode,
      response: failure.response,
      detail: failure.message,
    }));
  }
  return {
    recipients,
    attempt: { route: route.label, mechanism, recipients: to.length, durationMs: Date.now() - started, authRetried, authKey: route.settings.auth.key },
  };
}

/**
 * One transaction, continued on the same connection while the relay takes recipients and defers
 * the rest with 452 ("too many recipients", RFC 5321 §4.5.3.1.10): the deferred ones go in the
 * next transaction at once instead of waiting for the queue's backoff. Stops when a round makes
 * no progress; what is still deferred then is retried later as usual.
 */
async function sendInChunks(session: SmtpSession, from: string, to: readonly string[], raw: Buffer, mayStart?: () => boolean): Promise<TransactionResult> {
  const accepted: string[] = [];
  const settled: TransactionResult['rejected'][number][] = [];
  let pending = to;
  let response = '';
  for (let round = 0; round < to.length && pending.length > 0; round++) {
    if (round > 0 && mayStart && !mayStart()) break;
    let result: TransactionResult;
    try {
      result = await session.send({ from, to: pending }, raw);
    } catch (error) {
      if (round === 0) throw error;
      // A later round must never undo what an earlier one delivered: only the recipients still
      // pending share this failure (transient unless the relay answered 5xx).
      const failure = classifySmtpError(error);
      settled.push(...pending.map((address) => ({ address, responseCode: failure.responseCode, response: failure.response ?? failure.message })));
      break;
    }
    accepted.push(...result.accepted);
    if (result.response) response = result.response;
    const tooMany = result.rejected.filter((r) => r.responseCode === 452);
    settled.push(...result.rejected.filter((r) => r.responseCode !== 452));
    pending = result.accepted.length > 0 ? tooMany.map((r) => r.address) : [];
    if (pending.length === 0) settled.push(...(result.accepted.length > 0 ? [] : tooMany));
  }
  // Recipients still waiting when the loop stopped early are reported as deferred.
  const reported = new Set([...accepted, ...settled.map((r) => r.address)]);
  const unsent = to.filter((a) => !reported.has(a)).map((address) => ({ address, responseCode: 452, response: '452 4.5.3 too many recipients (continued later)' }));
  return { accepted, rejected: [...settled, ...unsent], response };
}

function isAuthFailure(error: unknown): boolean {
  return error instanceof TransientDeliveryError && error.reason === 'auth-failed';
}

/**
 * Worth one immediate second attempt: an authentication failure (after refreshing credentials), or
 * a connection that broke before the transaction got anywhere (a pooled connection the relay had
 * dropped). Never after DATA was sent: a reset after the final "." is ambiguous and waits for the
 * queue's retry instead.
 */
function isRetryable(error: unknown): boolean {
  if (isAuthFailure(error)) return true;
  return (
    error instanceof TransientDeliveryError &&
    error.reason === 'connection' &&
    error.responseCode === undefined &&
    (error.command === 'MAIL FROM' || error.command === 'API' || error.command === 'RSET')
  );
}
