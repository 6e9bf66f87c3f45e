/**
 * A sandbox's side of the fleet-wide limits (docs/design.md §2 `limits`): the pool asks it for a
 * connection lease before opening a session, and each message asks it for a share of the relay's
 * rate right before MAIL FROM. Over a limit, a caller waits a short, bounded time within the
 * invocation; past that it gets a {@link LimitDeferral}, and the message is deferred with the
 * limiter's delay — never failed, never refused. Messages of one sandbox that wait for the same
 * relay's rate are batched: one shared-state update takes tokens for all of them, and a token is
 * taken only for a message that is ready to send it, so batching never lets the fleet run ahead.
 *
 * The shared state being unreachable must not stop mail: the limits then hold per sandbox only
 * (leases and rate are granted, and `onStateError` is told).
 */
import type { EffectiveAuth, EffectiveLimits, EffectiveRelay } from './config/resolve.js';
import { TransientDeliveryError } from './errors.js';
import { allowance, limitKey, type ConnectionLease, type RelayLimiter } from './relayLimiter.js';

export interface RelayLimitsOptions {
  /** The longest a message waits for a limit within the invocation. @default 2_000 */
  readonly maxWaitMs?: number;
  /** The most messages one rate update serves. @default 10 */
  readonly maxBatch?: number;
  /** Called when the shared state could not be read or written (logged once per occurrence by the worker). */
  readonly onStateError?: (key: string, error: Error) => void;
}

/** The settings a limit decision reads. */
export interface LimitedRoute {
  readonly relay: Pick<EffectiveRelay, 'host' | 'port'>;
  readonly auth: Pick<EffectiveAuth, 'type' | 'user'>;
  readonly limits: EffectiveLimits;
}

/** A message over a limit after its wait: deferred, with when to come back. */
export class LimitDeferral extends TransientDeliveryError {
  public readonly retryAfterSeconds: number;
  public constructor(kind: 'connection-limit' | 'rate-limit', key: string, retryAfterMs: number) {
    const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
    super(
      kind === 'connection-limit'
        ? `every connection to ${key} allowed by limits.maxConnections is in use across the fleet; deferred ${seconds} s`
        : `the fleet is at ${key}'s limits.messagesPerSecond; deferred ${seconds} s`,
      { reason: kind },
    );
    this.name = 'LimitDeferral';
    this.retryAfterSeconds = seconds;
  }
}

/** The first pause after the fleet's slots were all found held; it doubles while they stay held. */
const LEASE_POLL_FIRST_MS = 250;
/** The longest pause between two looks at a full relay's slots. */
const LEASE_POLL_MAX_MS = 2_000;
/** A connection-limit deferral comes back after the soonest lease lapse, at most this many limit waits. */
const LEASE_DEFERRAL_WAITS = 2;

/** A relay whose slots this sandbox last found all held: nobody here looks again before `until`. */
interface LeaseBackoff {
  readonly until: number;
  readonly stepMs: number;
  /** The limiter's estimate of when a slot frees (ms from when it was found full). */
  readonly retryAfterMs: number;
}

const jitter = (ms: number): number => Math.round(ms * (0.8 + Math.random() * 0.4));

interface Waiter {
  readonly deadline: number;
  readonly resolve: (retryAfterMs: number | undefined) => void;
}

interface RateQueue {
  readonly waiters: Waiter[];
  busy: boolean;
  timer?: NodeJS.Timeout | undefined;
}

export class RelayLimits {
  private readonly maxWaitMs: number;
  private readonly maxBatch: number;
  private readonly queues = new Map<string, RateQueue>();
  private readonly leaseBackoff = new Map<string, LeaseBackoff>();
  /** A look at a relay's slots under way in this sandbox: others wait for its outcome instead of looking too. */
  private readonly looking = new Map<string, Promise<unknown>>();

  public constructor(
    public readonly limiter: RelayLimiter,
    private readonly options: RelayLimitsOptions = {},
  ) {
    this.maxWaitMs = options.maxWaitMs ?? 2_000;
    this.maxBatch = options.maxBatch ?? 10;
  }

  public key(route: LimitedRoute): string {
    return limitKey(route.relay, route.auth, route.limits);
  }

  /** The route's limits now, after any throttle steps the relay earned. */
  public allowance(route: LimitedRoute): ReturnType<typeof allowance> {
    return allowance(route.limits, this.limiter.throttleLevel(this.key(route)));
  }

  /**
   * A lease for one more session, or a {@link LimitDeferral} once `maxWaitMs` passed with every
   * slot held. `waitLocally` is called between tries: the pool resolves it early when one of its
   * own sessions of the relay comes back. One look at a full relay serves every message of this
   * sandbox that waits for it: the next look comes after a pause that doubles (250 ms, 500 ms, 1 s,
   * 2 s, ±20 %) while the slots stay held, so waiting costs a few calls per sandbox, not per message.
   */
  public async lease(route: LimitedRoute, waitLocally: (ms: number) => Promise<'session-free' | 'changed' | 'timeout'>): Promise<ConnectionLease | 'session-free'> {
    const key = this.key(route);
    const deadline = Date.now() + this.maxWaitMs;
    for (;;) {
      const backoff = this.leaseBackoff.get(key);
      const now = Date.now();
      if (backoff && backoff.until > now) {
        const left = deadline - now;
        if (left <= 0) throw this.connectionDeferral(key, backoff.retryAfterMs);
        const woken = await waitLocally(Math.min(left, backoff.until - now));
        if (woken === 'session-free') return 'session-free';
        // Woken early by a change in this sandbox (one of its sessions closed and gave its slot
        // back): worth a look now rather than at the end of the pause.
        if (woken === 'changed' && this.leaseBackoff.get(key) === backoff) this.leaseBackoff.delete(key);
        continue;
      }
      const under = this.looking.get(key);
      if (under) {
        await under;
        continue;
      }
      let result;
      const look = this.limiter.acquireLease(key, route.limits.maxConnections);
      this.looking.set(key, look.catch(() => undefined));
      try {
        result = await look;
      } catch (error) {
        this.options.onStateError?.(key, error as Error);
        return { key, slot: -1, holder: 'unshared', expiresAt: Number.MAX_SAFE_INTEGER, ttlMs: Number.MAX_SAFE_INTEGER };
      } finally {
        this.looking.delete(key);
      }
      if (result.granted) {
        this.leaseBackoff.delete(key);
        return result.lease;
      }
      // Still full since the last look: pause twice as long; a look long after the last one starts over.
      const recent = backoff && Date.now() - backoff.until < backoff.stepMs;
      const stepMs = recent ? Math.min(backoff.stepMs * 2, LEASE_POLL_MAX_MS) : LEASE_POLL_FIRST_MS;
      this.leaseBackoff.set(key, { until: Date.now() + jitter(stepMs), stepMs, retryAfterMs: result.retryAfterMs });
      if (deadline - Date.now() <= 0) throw this.connectionDeferral(key, result.retryAfterMs);
    }
  }

  /** Deferred until the soonest lease may lapse, at least 1 s, at most {@link LEASE_DEFERRAL_WAITS} limit waits, ±20 %. */
  private connectionDeferral(key: string, retryAfterMs: number): LimitDeferral {
    return new LimitDeferral('connection-limit', key, jitter(Math.min(Math.max(retryAfterMs, 1_000), Math.max(1_000, this.maxWaitMs * LEASE_DEFERRAL_WAITS))));
  }

  public async renew(lease: ConnectionLease): Promise<boolean> {
    if (lease.slot < 0) return true;
    try {
      return await this.limiter.renewLease(lease);
    } catch (error) {
      this.options.onStateError?.(lease.key, error as Error);
      // Not renewed: the lease still holds until it lapses, and not a moment longer (another
      // sandbox may take the slot then).
      return Date.now() < lease.expiresAt;
    }
  }

  public async release(lease: ConnectionLease): Promise<void> {
    if (lease.slot < 0) return;
    try {
      await this.limiter.releaseLease(lease);
    } catch (error) {
      // It lapses by itself after its TTL.
      this.options.onStateError?.(lease.key, error as Error);
    }
  }

  /**
   * One message's share of the relay's rate: resolves when it may be sent, or throws a
   * {@link LimitDeferral} when it would have to wait past `maxWaitMs` (or `deadline`).
   */
  public async admit(route: LimitedRoute, deadline = Number.MAX_SAFE_INTEGER): Promise<void> {
    if (route.limits.messagesPerSecond === undefined) return;
    const key = this.key(route);
    const queue = this.queues.get(key) ?? { waiters: [], busy: false };
    this.queues.set(key, queue);
    const retryAfterMs = await new Promise<number | undefined>((resolve) => {
      queue.waiters.push({ deadline: Math.min(deadline, Date.now() + this.maxWaitMs), resolve });
      // On the next turn: messages that become ready together share one update.
      setImmediate(() => void this.pump(key, route, queue));
    });
    if (retryAfterMs !== undefined) throw new LimitDeferral('rate-limit', key, retryAfterMs);
  }

  /** The relay throttled this sandbox: one throttle step for the fleet. Returns the level now in force. */
  public async throttled(route: LimitedRoute): Promise<number | undefined> {
    const key = this.key(route);
    try {
      return (await this.limiter.throttled(key)).level;
    } catch (error) {
      this.options.onStateError?.(key, error as Error);
      return undefined;
    }
  }

  private async pump(key: string, route: LimitedRoute, queue: RateQueue): Promise<void> {
    if (queue.busy || queue.timer || queue.waiters.length === 0) return;
    queue.busy = true;
    let retryAfterMs = 0;
    try {
      const want = Math.min(queue.waiters.length, this.maxBatch);
      let grant;
      try {
        // The configured rate: the limiter lowers it by the throttle level it shares with the fleet.
        grant = await this.limiter.takeTokens(key, route.limits.messagesPerSecond!, want);
      } catch (error) {
        this.options.onStateError?.(key, error as Error);
        grant = { granted: want, retryAfterMs: 0 };
      }
      for (const waiter of queue.waiters.splice(0, grant.granted)) waiter.resolve(undefined);
      // A partial grant means the relay's room is used up: the next message fits one interval later.
      const rate = this.allowance(route).messagesPerSecond ?? route.limits.messagesPerSecond!;
      retryAfterMs = grant.granted === 0 ? grant.retryAfterMs : grant.granted < want ? Math.ceil(1000 / rate) : 0;
      const now = Date.now();
      // Those who cannot wait that long are deferred now, with the limiter's delay.
      for (const waiter of queue.waiters.filter((w) => w.deadline < now + retryAfterMs)) {
        queue.waiters.splice(queue.waiters.indexOf(waiter), 1);
        waiter.resolve(retryAfterMs + (queue.waiters.length * 1000) / rate);
      }
    } finally {
      queue.busy = false;
    }
    if (queue.waiters.length === 0) return;
    if (retryAfterMs === 0) return this.pump(key, route, queue);
    queue.timer = setTimeout(() => {
      queue.timer = undefined;
      void this.pump(key, route, queue);
    }, retryAfterMs);
  }
}
