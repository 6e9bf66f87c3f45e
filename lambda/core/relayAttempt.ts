/**
 * One route's recipients through one relay: a pooled session (opened with the route's
 * credentials), one forced credential refresh after an authentication failure, the transaction
 * continued past 452, and a result per recipient. Whether to fail over to the next relay or
 * suspend this one is the caller's decision (lambda/core/failover.ts), made on the failure this
 * returns.
 */
import type { RouteGroup } from './config/resolve.js';
import { buildCredentials, type CredentialSources } from './credentials.js';
import { AUTH_FAILURE_REASONS, isDeliveryError, TransientDeliveryError, type DeliveryError } from './errors.js';
import { classifySmtpError, isTransientReply } from './smtp/classify.js';
import { LimitDeferral, type RelayLimits } from './relayLimits.js';
import { matchProviderReply } from './smtp/providerReplies.js';
import type { SmtpPool } from './smtp/pool.js';
import type { SessionCredentials, SmtpSession, TransactionResult } from './smtp/session.js';
import type { RecipientResult, RecipientStatus } from './relay.js';
import { startStage, timeStage } from './stageTimings.js';

export interface AttemptDependencies extends CredentialSources {
  readonly pool: SmtpPool;
}

export interface RelayAttemptResult {
  readonly recipients: RecipientResult[];
  readonly durationMs: number;
  readonly authRetried: boolean;
  /** Set when the whole transaction failed (no recipient got its own reply). */
  readonly failure?: DeliveryError | undefined;
  /** False when the failure came before a session was in hand: the relay refused the session. */
  readonly sessionOpened: boolean;
  /** A reply in this transaction said the relay is refusing (a 421 to RCPT, a throttle): suspend, do not fail over. */
  readonly relayRefusal?: { readonly reason: string; readonly detail: string } | undefined;
  /** The relay throttled us: the throttle level now in force for its limits. */
  readonly throttleLevel?: number | undefined;
}

export async function attemptRelay(route: RouteGroup, from: string, raw: Buffer, deps: AttemptDependencies, mayStart?: () => boolean): Promise<RelayAttemptResult> {
  const started = Date.now();
  const to = route.recipients.map((r) => r.address);
  const tag = { route: route.label, mechanism: route.settings.auth.type, authKey: route.settings.auth.key };
  let sessionOpened = false;
  // Whether the session of the last attempt came from the pool rather than a fresh connection.
  let reusedSession = false;
  let authRetried = false;
  // Whether nodemailer already renewed the XOAUTH2 token inside the AUTH exchange (after the
  // relay's 334 error challenge): then a second attempt would only repeat it.
  let tokenRenewed = false;

  const credentials = async (forceRefresh: boolean): Promise<SessionCredentials> => {
    const creds = await buildCredentials(route.settings.auth, deps, forceRefresh);
    if (creds.mechanism !== 'XOAUTH2') return creds;
    // Fetch (or renew) the token before connecting: fetched inside the AUTH exchange, a slow token
    // endpoint would idle the SMTP socket into a timeout that looks like the relay refusing the
    // session, and suspend a healthy relay for the fleet. The exchange then reads the cached token.
    // The first token the exchange asks for is this one; a renewal (the relay's 334 challenge) fetches anew.
    let prefetched: string | undefined = await creds.getToken(false);
    return {
      ...creds,
      getToken: (renew) => {
        tokenRenewed ||= renew;
        const token = renew ? undefined : prefetched;
        prefetched = undefined;
        return token !== undefined ? Promise.resolve(token) : creds.getToken(renew);
      },
    };
  };
  const attemptOnce = async (forceRefresh: boolean): Promise<TransactionResult> => {
    // Credentials, the pool's wait for a free session, a new connection's TLS and AUTH.
    let sessionReady: (() => void) | undefined = startStage('session');
    const sent = await deps.pool.withSession(
      route,
      () => credentials(forceRefresh),
      async (session, reused) => {
        sessionReady?.();
        sessionReady = undefined;
        sessionOpened = true;
        reusedSession = reused;
        // Waiting for a pooled connection may have used the invocation's time up.
        if (mayStart && !mayStart()) return undefined;
        // The relay's rate, right before MAIL FROM: a message over it waits briefly, then is
        // deferred (the session stays pooled: the deferral is not the session's fault).
        const limited = await admit(route, deps);
        if (limited) return limited;
        return mayStart && !mayStart() ? undefined : timeStage('smtp', () => sendInChunks(session, from, to, raw, mayStart));
      },
    );
    if (sent instanceof LimitDeferral) throw sent;
    if (!sent) throw new TransientDeliveryError('not enough time left to start the SMTP transaction', { reason: 'out-of-time' });
    return sent;
  };

  try {
    let result: TransactionResult;
    try {
      result = await attemptOnce(false);
    } catch (error) {
      if (!isRetryable(error, reusedSession)) throw error;
      // Credentials rotate: after an authentication failure, re-read the secret or token once —
      // unless XOAUTH2 already renewed its token inside the exchange (334 challenge). A relay that
      // answers a stale token with a bare 535 gets one attempt with a forced refresh here. A pooled
      // connection the relay had closed is replaced by a fresh one the same way.
      if (isAuthFailure(error) && tokenRenewed) throw error;
      authRetried = isAuthFailure(error);
      sessionOpened = false;
      result = await attemptOnce(authRetried);
    }
    const relayRefusal = refusalIn(result);
    const throttleLevel = relayRefusal && isThrottle(relayRefusal.reason, undefined, relayRefusal.detail) ? await limitsOf(deps)?.throttled(route.settings) : undefined;
    return { recipients: recipientsOf(result, to, tag), durationMs: Date.now() - started, authRetried, sessionOpened: true, relayRefusal, throttleLevel };
  } catch (error) {
    const failure: DeliveryError = isDeliveryError(error)
      ? error
      : new TransientDeliveryError(`delivery failed: ${(error as Error).message ?? String(error)}`, { reason: 'connection' }, { cause: error });
    // A relay that says it is overloaded gets less of us for a while (docs/design.md §2 `limits`).
    const throttleLevel = isThrottle(failure.reason, failure.responseCode, failure.response) ? await limitsOf(deps)?.throttled(route.settings) : undefined;
    return { recipients: failedRecipients(failure, to, tag), durationMs: Date.now() - started, authRetried, failure, sessionOpened, throttleLevel };
  }
}

type Tag = Pick<RecipientResult, 'route' | 'mechanism' | 'authKey'>;

function recipientsOf(result: TransactionResult, to: readonly string[], tag: Tag): RecipientResult[] {
  const accepted = new Set(result.accepted);
  const rejected = new Map(result.rejected.map((r) => [r.address, r]));
  return to.map((address): RecipientResult => {
    if (accepted.has(address)) return { address, status: 'delivered', ...tag, responseCode: 250, response: result.response };
    return refusedAtRcpt(address, rejected.get(address), tag);
  });
}

function refusedAtRcpt(address: string, reply: TransactionResult['rejected'][number] | undefined, tag: Tag): RecipientResult {
  const named = classifySmtpError({ code: 'EENVELOPE', command: 'RCPT TO', responseCode: reply?.responseCode, response: reply?.response });
  const transient = reply?.responseCode === undefined ? true : isTransientReply(reply.responseCode);
  const reason = named.reason === 'auth-failed' ? (transient ? 'smtp-transient' : 'smtp-permanent') : named.reason;
  return {
    address,
    status: transient ? 'deferred' : 'failed',
    ...tag,
    reason: reply?.responseCode === undefined ? 'smtp-transient' : reason,
    responseCode: reply?.responseCode,
    response: reply?.response,
    detail: `recipient ${transient ? 'deferred' : 'rejected'} at RCPT TO`,
  };
}

/**
 * Every recipient shares a whole-transaction failure — except those the relay had already
 * refused at RCPT: that refusal is final whatever happened to DATA afterwards (issue 21), and
 * only the recipients it accepted are in doubt.
 */
function failedRecipients(failure: DeliveryError, to: readonly string[], tag: Tag): RecipientResult[] {
  const refused = new Map((failure.refusedRecipients ?? []).map((r) => [r.address, r]));
  const status: RecipientStatus = failure instanceof TransientDeliveryError ? 'deferred' : 'failed';
  return to.map((address): RecipientResult => {
    const reply = refused.get(address);
    if (reply) return refusedAtRcpt(address, reply, tag);
    const retryAfterSeconds = failure instanceof LimitDeferral ? failure.retryAfterSeconds : undefined;
    return { address, status, ...tag, reason: failure.reason, responseCode: failure.responseCode, response: failure.response, detail: failure.message, retryAfterSeconds };
  });
}

/** A recipient-level reply that says the relay is refusing sessions (421 to RCPT, a throttle). */
function refusalIn(result: TransactionResult): RelayAttemptResult['relayRefusal'] {
  for (const r of result.rejected) {
    const named = matchProviderReply(r.responseCode, r.response);
    if (named?.refusesSession) return { reason: named.reason, detail: r.response ?? `${r.responseCode}` };
  }
  return undefined;
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
      // pending share this failure (transient unless the relay answered 5xx), except those this
      // round's RCPT had already refused for good.
      const failure = classifySmtpError(error);
      const refused = new Map((failure.refusedRecipients ?? []).map((r) => [r.address, r]));
      settled.push(...pending.map((address) => refused.get(address) ?? { address, responseCode: failure.responseCode, response: failure.response ?? failure.message }));
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

/** The pool's limits; a stand-in pool (tests) may have none. */
function limitsOf(deps: AttemptDependencies): RelayLimits | undefined {
  return (deps.pool as { limits?: RelayLimits }).limits;
}

/** A message's share of the relay's rate; a deferral when it would wait too long. */
async function admit(route: RouteGroup, deps: AttemptDependencies): Promise<LimitDeferral | undefined> {
  try {
    await limitsOf(deps)?.admit(route.settings);
    return undefined;
  } catch (error) {
    if (error instanceof LimitDeferral) return error;
    throw error;
  }
}

/** A reply that says the relay is overloaded by us: 421 / `4.7.0` throttles, "too many connections". */
export function isThrottle(reason: string | undefined, code: number | undefined, response: string | undefined): boolean {
  return reason === 'relay-throttled' || (code !== undefined && code >= 400 && code < 500 && /too many (connections|sessions|messages)/i.test(response ?? ''));
}

function isAuthFailure(error: unknown): boolean {
  return error instanceof TransientDeliveryError && AUTH_FAILURE_REASONS.has(error.reason);
}

/**
 * Worth one immediate second attempt: an authentication failure (after refreshing credentials), or
 * a connection that broke before the transaction got anywhere (a pooled connection the relay had
 * dropped). Never after DATA was sent: a reset after the final "." is ambiguous and waits for the
 * queue's retry instead. A 421 to MAIL FROM on a pooled session is the relay closing an idle
 * connection (smtp-server, Postfix's `smtpd_timeout`), not a refusal: a fresh connection decides.
 */
function isRetryable(error: unknown, reusedSession: boolean): boolean {
  if (isAuthFailure(error)) return true;
  if (reusedSession && error instanceof TransientDeliveryError && error.responseCode === 421 && (error.command === 'MAIL FROM' || error.command === 'CONN')) return true;
  return (
    error instanceof TransientDeliveryError &&
    error.reason === 'connection' &&
    error.responseCode === undefined &&
    !error.sessionRefused &&
    (error.command === 'MAIL FROM' || error.command === 'API' || error.command === 'RSET')
  );
}
