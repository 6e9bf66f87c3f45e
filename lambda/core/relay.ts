/**
 * Relays one validated message: resolve its routes, compose it once, sign it with each route's
 * DKIM signer (once per signer, lambda/core/dkim/sign.ts), and deliver each route (in
 * parallel) through its relays in failover order (lambda/core/failover.ts). Returns a result per
 * recipient; the caller decides what the message's fate is (lambda/worker/disposition.ts).
 */
import { resolveRoutes, type EffectiveDelivery, type RouteGroup } from './config/resolve.js';
import { MessageSigner } from './dkim/sign.js';
import { isDeliveryError, TransientDeliveryError, type FailureReason } from './errors.js';
import { deliverRoute, type FailoverDependencies, type RelayNotice } from './failover.js';
import type { QueueMessage } from './message/types.js';
import type { ConfigStore } from './ports.js';
import { composeMessage } from './smtp/compose.js';
import { timeStage } from './stageTimings.js';

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
  /** A deferral that must not come back sooner (a suspended relay's remaining time). */
  readonly retryAfterSeconds?: number | undefined;
}

export interface RouteAttempt {
  readonly route: string;
  readonly mechanism: string;
  readonly recipients: number;
  readonly durationMs: number;
  readonly authRetried: boolean;
  readonly authKey?: string | undefined;
  /** `host:port` of the relay tried. */
  readonly relay?: string | undefined;
  /** This attempt was the one probe of a suspended relay. */
  readonly probe?: boolean | undefined;
}

export interface RelayResult {
  readonly recipients: readonly RecipientResult[];
  readonly attempts: readonly RouteAttempt[];
  /** Suspensions started, relays recovered, failovers: for the worker's log and metrics. */
  readonly notices: readonly RelayNotice[];
  /** The message's retry policy, known once its config items were read. */
  readonly delivery?: EffectiveDelivery | undefined;
}

export interface RelayDependencies extends FailoverDependencies {
  readonly config: ConfigStore;
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
  if (pending.length === 0) return { recipients: [], attempts: [], notices: [] };

  const { routes, failures, delivery } = await timeStage('config', () =>
    resolveRoutes({ binding: message.binding, senderDomain: message.sender.domain, recipients: pending, auth: message.auth }, deps.config, { authHook: deps.authHook?.hasModule }),
  );
  const results: RecipientResult[] = failures.flatMap((failure) =>
    failure.recipients.map((r) => ({ address: r.address, status: 'failed' as const, reason: 'invalid-config' as const, detail: failure.error.message })),
  );
  if (routes.length === 0) return { recipients: results, attempts: [], notices: [], delivery };

  const signer = new MessageSigner(await timeStage('compose', () => composeMessage(message)), deps.secrets);
  // What the auth hook may see of the message: metadata, never the body.
  const hookMessage = { from: message.envelope.from, binding: message.binding, tags: message.tags, idempotencyKey: message.idempotencyKey };
  const outcomes = await Promise.all(
    routes.map(async (route) => {
      let bytes: Buffer;
      try {
        bytes = await signer.bytesFor(route.settings.dkim);
      } catch (error) {
        return unsigned(route, error);
      }
      return deliverRoute(route, message.envelope.from, bytes, deps, options.mayStart, hookMessage);
    }),
  );
  for (const outcome of outcomes) results.push(...outcome.recipients);
  return { recipients: results, attempts: outcomes.flatMap((o) => o.attempts), notices: outcomes.flatMap((o) => o.notices), delivery };
}

/** A route whose message could not be signed is not sent: its recipients share the signer's failure. */
function unsigned(route: RouteGroup, error: unknown): Pick<RelayResult, 'recipients' | 'attempts' | 'notices'> {
  const failure = isDeliveryError(error) ? error : new TransientDeliveryError(`dkim signing failed: ${(error as Error).message ?? String(error)}`, { reason: 'config-error' });
  const status = failure instanceof TransientDeliveryError ? ('deferred' as const) : ('failed' as const);
  return {
    recipients: route.recipients.map((r) => ({ address: r.address, status, route: route.label, mechanism: route.settings.auth.type, authKey: route.settings.auth.key, reason: failure.reason, detail: failure.message })),
    attempts: [],
    notices: [],
  };
}

/** The message's fate: deferred if any recipient may still succeed later, else failed if any failed. */
export function summarizeRelay(result: RelayResult): RecipientStatus {
  if (result.recipients.some((r) => r.status === 'deferred')) return 'deferred';
  if (result.recipients.some((r) => r.status === 'failed')) return 'failed';
  return 'delivered';
}
