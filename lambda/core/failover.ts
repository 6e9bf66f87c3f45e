/**
 * A route's relays in order (docs/design.md §2, failover; §3, suspension). A relay the fleet has
 * suspended is skipped without connecting; a relay that refuses the session (connect failure or
 * timeout, TLS failure, 421 or 4xx before MAIL) is suspended for everyone and the next one is
 * tried. Replies to MAIL, RCPT and DATA belong to the message: they never fail over, though a
 * 421 or a throttle reply there still suspends the relay. When no relay is left, the route's
 * recipients are deferred until the earliest suspension ends.
 *
 * Before each relay, the auth hook (if any) answers for the route as seen through that relay; a
 * hook that fails defers the route without connecting: never a session without its credentials.
 */
import type { AuthHookRunner, HookMessage } from './authHook/runner.js';
import { relayId, routeKey, routeLabel, type EffectiveRelay, type RouteGroup } from './config/resolve.js';
import { describeKeysource } from './keysources.js';
import type { RelaySuspension, RouteHealth } from './routeHealth.js';
import { AUTH_FAILURE_REASONS, PermanentDeliveryError, isDeliveryError, type DeliveryError } from './errors.js';
import { attemptRelay, type AttemptDependencies } from './relayAttempt.js';
import { LimitDeferral } from './relayLimits.js';
import type { RecipientResult, RouteAttempt } from './relay.js';

export interface FailoverDependencies extends AttemptDependencies {
  /** Shared relay state. Absent: no suspension, failover still works. */
  readonly routeHealth?: RouteHealth | undefined;
  /** The per-message auth hook (docs/design.md §2). Absent: no hook. */
  readonly authHook?: AuthHookRunner | undefined;
}

/** Something the operator should see about a relay, logged once by the worker. */
export type RelayNotice =
  | { readonly kind: 'suspended'; readonly relay: string; readonly suspension: RelaySuspension }
  | { readonly kind: 'recovered'; readonly relay: string }
  | { readonly kind: 'failover'; readonly relay: string; readonly next: string; readonly reason: string }
  | { readonly kind: 'state-unavailable'; readonly relay: string; readonly detail: string }
  /** The relay throttled us: its limits are lowered to this throttle level for a while. */
  | { readonly kind: 'throttled'; readonly relay: string; readonly level: number }
  /** Recipients deferred because the relay's fleet-wide limit was reached. */
  | { readonly kind: 'limited'; readonly relay: string; readonly reason: 'connection-limit' | 'rate-limit'; readonly retryAfterSeconds: number };

export interface RouteOutcome {
  readonly recipients: RecipientResult[];
  readonly attempts: RouteAttempt[];
  readonly notices: RelayNotice[];
}

export async function deliverRoute(
  route: RouteGroup,
  from: string,
  raw: Buffer,
  deps: FailoverDependencies,
  mayStart?: () => boolean,
  message?: HookMessage,
): Promise<RouteOutcome> {
  const attempts: RouteAttempt[] = [];
  const notices: RelayNotice[] = [];
  // Suspensions met on the way (skipped, or started by this attempt): what the recipients wait for.
  const suspensions: RelaySuspension[] = [];
  const relays = route.settings.relays;
  // The last relay's own failure, when it failed over without a suspension (tls-required, ...).
  let unusable: RecipientResult[] | undefined;

  for (const [index, relay] of relays.entries()) {
    const id = relayId(relay);
    // A relay is suspended for everyone (it refused the session), or for one account on it (it
    // throttled that account's logins: `454 4.7.0 Too many login attempts` is per mailbox).
    const health = await checkRelay(id, deps, notices);
    if (health.state === 'suspended') {
      suspensions.push({ ...health.suspension, until: health.until });
      continue;
    }
    let view = relayRoute(route, relay, index);
    let hooked = false;
    if (!deps.authHook && view.settings.auth.hookFunction !== undefined) {
      const error = new PermanentDeliveryError(`auth.hookFunction names ${view.settings.auth.hookFunction}, but this worker runs no auth hooks`, { reason: 'config-error' });
      return { recipients: hookFailed(view, error), attempts, notices };
    }
    if (deps.authHook) {
      try {
        const answered = await deps.authHook.apply(view, message ?? { from, binding: '', tags: {}, idempotencyKey: '' });
        hooked = answered.fields.length > 0;
        view = answered.route;
      } catch (error) {
        // Not the relay's fault: no failover, no suspension; the route waits (or, malformed, fails).
        return { recipients: hookFailed(view, error), attempts, notices };
      }
    }
    // The account is the user the session logs in as: known only once the hook has answered (a
    // tenant's throttle must not hold the configured user's other tenants, nor the whole relay).
    const account = accountKey(id, view);
    const accountHealth = account ? await checkRelay(account, deps, notices) : health;
    if (accountHealth.state === 'suspended') {
      suspensions.push({ ...accountHealth.suspension, until: accountHealth.until });
      continue;
    }
    const probing = health.state === 'probe' || accountHealth.state === 'probe';
    const result = await attemptRelay(view, from, raw, deps, mayStart);
    attempts.push({ route: view.label, mechanism: view.settings.auth.type, recipients: route.recipients.length, durationMs: result.durationMs, authRetried: result.authRetried, authKey: route.settings.auth.key, relay: id, probe: probing });
    // The relay refused what the hook gave: ask the hook again next time, not its cached answer.
    if (hooked && result.failure && AUTH_FAILURE_REASONS.has(result.failure.reason)) deps.authHook?.invalidate(relayRoute(route, relay, index));

    const failure = result.failure;
    if (result.throttleLevel !== undefined) notices.push({ kind: 'throttled', relay: id, level: result.throttleLevel });
    if (failure instanceof LimitDeferral) notices.push({ kind: 'limited', relay: id, reason: failure.reason as 'connection-limit' | 'rate-limit', retryAfterSeconds: failure.retryAfterSeconds });
    const refusal = failure?.sessionRefused ? { reason: failure.reason, detail: failure.message } : result.relayRefusal;
    if (!refusal) {
      // A probe that did not meet a refusal releases the suspension whatever else happened (an
      // authentication failure is the route's credentials, not the relay): the fleet must not wait
      // a whole probe interval for it.
      if (result.sessionOpened || probing) {
        await reportRecovery(id, health.state === 'probe', deps, notices);
        if (account) await reportRecovery(account, accountHealth.state === 'probe', deps, notices);
      }
      const next = relays[index + 1];
      if (next && failsOverWithoutSuspending(result)) {
        notices.push({ kind: 'failover', relay: id, next: relayId(next), reason: result.failure!.reason });
        unusable = result.recipients;
        continue;
      }
      return { recipients: result.recipients, attempts, notices };
    }
    const atLogin = failure?.command?.startsWith('AUTH') === true && account !== undefined;
    const suspension = await reportRefusal(atLogin ? account : id, refusal, deps, notices);
    if (suspension) suspensions.push(suspension);
    // Only a refused session fails over; a reply inside the transaction is the message's.
    const next = relays[index + 1];
    if (result.sessionOpened || !next) return { recipients: waitFor(result.recipients, suspension), attempts, notices };
    notices.push({ kind: 'failover', relay: id, next: relayId(next), reason: refusal.reason });
  }
  if (suspensions.length === 0 && unusable) return { recipients: unusable, attempts, notices };
  return { recipients: suspendedRecipients(route, suspensions, attempts), attempts, notices };
}

/** Every recipient of the route shares the hook's failure: deferred (transient) or failed (malformed answer). */
function hookFailed(view: RouteGroup, error: unknown): RecipientResult[] {
  const failure: DeliveryError = isDeliveryError(error) ? error : new PermanentDeliveryError(`auth hook: ${(error as Error).message ?? String(error)}`, { reason: 'config-error' });
  const status = failure instanceof PermanentDeliveryError ? 'failed' : 'deferred';
  return view.recipients.map((r) => ({ address: r.address, status, route: view.label, mechanism: view.settings.auth.type, authKey: view.settings.auth.key, reason: failure.reason, detail: failure.message }));
}

/**
 * A relay that cannot serve this route at all — no STARTTLS where TLS is required, not offering the
 * configured mechanism, a 5xx greeting — is skipped for the next relay of the list. It is not
 * suspended: it is not down, it is configured or set up wrong, and the DLQ names it if no relay works.
 */
function failsOverWithoutSuspending(result: { readonly failure?: { readonly reason: string; readonly responseCode?: number | undefined; readonly command?: string | undefined; readonly sessionRefused: boolean } | undefined; readonly sessionOpened: boolean }): boolean {
  const failure = result.failure;
  if (!failure || result.sessionOpened || failure.sessionRefused) return false;
  if (failure.reason === 'tls-required' || failure.reason === 'auth-mechanism-unavailable') return true;
  return failure.responseCode !== undefined && failure.responseCode >= 500 && (failure.command === 'CONN' || failure.command === 'EHLO' || failure.command === 'HELO');
}

/** Deferred recipients of a suspended relay come back no sooner than the suspension ends. */
function waitFor(recipients: RecipientResult[], suspension: RelaySuspension | undefined): RecipientResult[] {
  if (!suspension) return recipients;
  const retryAfterSeconds = Math.max(1, Math.ceil((suspension.until - Date.now()) / 1000));
  return recipients.map((r) => (r.status === 'deferred' ? { ...r, retryAfterSeconds } : r));
}

/**
 * The key of the route's account on a relay (`host:port#user`), for throttles that answer a login:
 * the user the session logs in as (the hook's, if it answered one, else the configured one), or
 * the keysource it is read from — never a secret. None without AUTH. Call it with the route as
 * the hook made it.
 */
export function accountKey(relay: string, route: RouteGroup): string | undefined {
  const { auth } = route.settings;
  if (auth.type === 'NONE') return undefined;
  const who = auth.user ?? (auth.pass ? describeKeysource(auth.pass) : auth.oauth2?.clientId);
  return who === undefined ? undefined : `${relay}#${who}`;
}

/** The route as seen through one of its relays: its own pool key and label. */
export function relayRoute(route: RouteGroup, relay: EffectiveRelay, index: number): RouteGroup {
  if (index === 0) return route;
  const settings = { ...route.settings, relay };
  return { ...route, settings, key: `${routeKey(route.settings)}#relay${index}`, label: routeLabel(settings) };
}

async function checkRelay(id: string, deps: FailoverDependencies, notices: RelayNotice[]) {
  if (!deps.routeHealth) return { state: 'open' as const };
  try {
    return await deps.routeHealth.check(id);
  } catch (error) {
    // The state table being down must not stop mail: deliver as if the relay were healthy.
    notices.push({ kind: 'state-unavailable', relay: id, detail: (error as Error).message });
    return { state: 'open' as const };
  }
}

async function reportRefusal(id: string, refusal: { reason: string; detail: string }, deps: FailoverDependencies, notices: RelayNotice[]): Promise<RelaySuspension | undefined> {
  if (!deps.routeHealth) return undefined;
  try {
    const { suspension, started } = await deps.routeHealth.refused(id, refusal);
    if (started) notices.push({ kind: 'suspended', relay: id, suspension });
    return suspension;
  } catch (error) {
    notices.push({ kind: 'state-unavailable', relay: id, detail: (error as Error).message });
    return undefined;
  }
}

async function reportRecovery(id: string, probed: boolean, deps: FailoverDependencies, notices: RelayNotice[]): Promise<void> {
  if (!deps.routeHealth) return;
  try {
    await deps.routeHealth.recovered(id);
    if (probed) notices.push({ kind: 'recovered', relay: id });
  } catch (error) {
    notices.push({ kind: 'state-unavailable', relay: id, detail: (error as Error).message });
  }
}

/**
 * Every relay of the route is suspended (or refused this time): its recipients wait, without a
 * connection, until the earliest suspension ends, and carry the reason the relay was suspended.
 */
function suspendedRecipients(route: RouteGroup, skipped: readonly RelaySuspension[], attempts: readonly RouteAttempt[]): RecipientResult[] {
  const now = Date.now();
  const first = [...skipped].sort((a, b) => a.until - b.until)[0];
  const retryAfterSeconds = first ? Math.max(1, Math.ceil((first.until - now) / 1000)) : undefined;
  const detail = first
    ? `relay ${first.relay} is suspended for the fleet until ${new Date(first.until).toISOString()} after ${first.reason}${first.detail ? `: ${first.detail}` : ''}`
    : 'no relay of the route could be tried';
  return route.recipients.map((r) => ({
    address: r.address,
    status: 'deferred',
    route: attempts.at(-1)?.route ?? route.label,
    mechanism: route.settings.auth.type,
    authKey: route.settings.auth.key,
    reason: 'route-suspended',
    detail,
    retryAfterSeconds,
  }));
}
