/**
 * Fleet-wide relay limits (docs/design.md §2 `limits`): `maxConnections` as leases (one per open
 * SMTP session, expiring unless renewed, released on close) and `messagesPerSecond` as a GCRA
 * (generic cell rate algorithm) on one theoretical-arrival-time value per relay, smooth, with a
 * burst of at most one second's worth. A relay that throttles (421, `4.7.0`, "too many
 * connections") lowers its allowance for a while: each throttle step halves the rate and takes
 * one connection away, and each quiet `recoveryStepMs` gives one step back.
 *
 * The state is shared (DynamoDB in AWS, lambda/adapters/dynamoRelayLimiter.ts);
 * {@link MemoryRelayLimiter} is the same rules for one process (tests, and a worker without a
 * relay-state table). The pure functions here are what both implement.
 */
import type { EffectiveAuth, EffectiveLimits, EffectiveRelay } from './config/resolve.js';
import { relayId } from './config/resolve.js';

/** An open session's claim on one of a relay's `maxConnections` slots. */
export interface ConnectionLease {
  /** The limit key (`host:port` or `host:port#user`). */
  readonly key: string;
  readonly slot: number;
  /** Who holds it: unique per lease. */
  readonly holder: string;
  /** When it lapses unless renewed (epoch ms). */
  expiresAt: number;
  /** How long a renewal extends it. */
  readonly ttlMs: number;
}

export type LeaseResult =
  | { readonly granted: true; readonly lease: ConnectionLease }
  /** Every slot is held; try again in about `retryAfterMs`. */
  | { readonly granted: false; readonly retryAfterMs: number };

export interface TokenGrant {
  /** Messages that may be sent now (0..asked). */
  readonly granted: number;
  /** With nothing granted: when the next message may go (ms from now). */
  readonly retryAfterMs: number;
}

/** How hard a relay is throttling: 0 = not at all. */
export interface ThrottleState {
  readonly level: number;
  /** When the last throttle step was taken (epoch ms). */
  readonly since: number;
}

/** What the worker needs of the shared limit state. */
export interface RelayLimiter {
  /**
   * Take a free connection slot of `key`. `maxConnections` is the configured number: the limiter
   * lowers it by the throttle level, read with the slots, and counts every slot held.
   */
  acquireLease(key: string, maxConnections: number): Promise<LeaseResult>;
  /** Extend a lease this process holds; false when it lapsed and someone else holds the slot. */
  renewLease(lease: ConnectionLease): Promise<boolean>;
  releaseLease(lease: ConnectionLease): Promise<void>;
  /**
   * Take up to `count` messages' worth of the relay's rate (one GCRA update). `messagesPerSecond`
   * is the configured rate: the limiter lowers it by the throttle level it holds with the rate
   * state, so a sandbox that never met the relay's 421 still sends at the fleet's lowered rate.
   */
  takeTokens(key: string, messagesPerSecond: number, count: number): Promise<TokenGrant>;
  /** The relay throttled: one more throttle step (at most one per `holdMs` across the fleet). */
  throttled(key: string): Promise<ThrottleState>;
  /** The throttle level this process knows of (cached; no I/O). */
  throttleLevel(key: string): number;
  /** Calls made to the shared store (the bench's "extra AWS calls per message"). */
  readonly calls: number;
  /** True when other sandboxes share the state (leases then cost calls and are given back sooner). */
  readonly shared: boolean;
}

export interface LimiterPolicy {
  /** A lease lapses this long after it was taken or last renewed. @default 30_000 */
  readonly leaseTtlMs: number;
  /** A throttle step is given back after this long without another throttle. @default 30_000 */
  readonly recoveryStepMs: number;
  /** Throttles closer together than this count as one step. @default 2_000 */
  readonly holdMs: number;
  /** The most steps: the rate goes down to 1/2^maxLevel. @default 4 */
  readonly maxLevel: number;
}

export const DEFAULT_LIMITER_POLICY: LimiterPolicy = { leaseTtlMs: 30_000, recoveryStepMs: 30_000, holdMs: 2_000, maxLevel: 4 };

/** The key limits count under: the relay, or the relay and the authenticated user. */
export function limitKey(relay: Pick<EffectiveRelay, 'host' | 'port'>, auth: Pick<EffectiveAuth, 'type' | 'user'>, limits: Pick<EffectiveLimits, 'perUser'>): string {
  const id = relayId(relay);
  return limits.perUser && auth.type !== 'NONE' && auth.user ? `${id}#${auth.user.toLowerCase()}` : id;
}

/** The throttle level at `now`: one step is given back per quiet `recoveryStepMs`. */
export function currentLevel(state: ThrottleState | undefined, policy: Pick<LimiterPolicy, 'recoveryStepMs'>, now: number): number {
  if (!state || state.level <= 0) return 0;
  return Math.max(0, state.level - Math.floor((now - state.since) / policy.recoveryStepMs));
}

/** The next throttle state after a throttle reply at `now`, or undefined when one was taken within `holdMs`. */
export function throttleAfter(state: ThrottleState | undefined, policy: LimiterPolicy, now: number): ThrottleState | undefined {
  if (state && state.level > 0 && now - state.since < policy.holdMs) return undefined;
  return { level: Math.min(policy.maxLevel, currentLevel(state, policy, now) + 1), since: now };
}

/** The limits a relay gets at a throttle level: the rate halved per level, one connection fewer per level (never below one). */
export function allowance(limits: Pick<EffectiveLimits, 'maxConnections' | 'messagesPerSecond'>, level: number): { maxConnections: number; messagesPerSecond: number | undefined } {
  return {
    maxConnections: Math.max(1, limits.maxConnections - level),
    messagesPerSecond: limits.messagesPerSecond === undefined ? undefined : rateAt(limits.messagesPerSecond, level),
  };
}

/** The rate a relay gets at a throttle level (halved per level). */
export function rateAt(messagesPerSecond: number, level: number): number {
  return messagesPerSecond / 2 ** level;
}

/** GCRA parameters of a rate: the emission interval and the burst tolerance (one second's worth in all). */
export function gcraParameters(messagesPerSecond: number): { intervalMs: number; toleranceMs: number } {
  const intervalMs = 1000 / messagesPerSecond;
  return { intervalMs, toleranceMs: Math.max(0, 1000 - intervalMs) };
}

/**
 * One GCRA decision for up to `count` messages.
 * @param tat the stored theoretical arrival time (epoch ms), undefined for a relay never used
 * @returns how many may go now, the new arrival time to store, and with none granted, how long to wait
 * @example
 * gcra(undefined, 0, 2, 5) // → { granted: 2, tat: 1000, retryAfterMs: 0 } (2 msg/s: a burst of two, then one per 500 ms)
 */
export function gcra(tat: number | undefined, now: number, messagesPerSecond: number, count: number): TokenGrant & { readonly tat: number } {
  const { intervalMs, toleranceMs } = gcraParameters(messagesPerSecond);
  const base = Math.max(tat ?? now, now);
  const room = base - now > toleranceMs ? 0 : Math.floor((now + toleranceMs - base) / intervalMs + 1e-9) + 1;
  const granted = Math.min(count, room);
  if (granted === 0) return { granted, tat: base, retryAfterMs: Math.max(1, Math.ceil(base - toleranceMs - now)) };
  return { granted, tat: base + granted * intervalMs, retryAfterMs: 0 };
}

/** The same rules in one process. */
export class MemoryRelayLimiter implements RelayLimiter {
  private readonly leases = new Map<string, Map<number, ConnectionLease>>();
  private readonly arrival = new Map<string, number>();
  private readonly throttles = new Map<string, ThrottleState>();
  private serial = 0;
  public calls = 0;
  public readonly shared = false;

  public constructor(
    private readonly policy: LimiterPolicy = DEFAULT_LIMITER_POLICY,
    private readonly now: () => number = Date.now,
  ) {}

  public acquireLease(key: string, maxConnections: number): Promise<LeaseResult> {
    const now = this.now();
    const slots = this.leases.get(key) ?? new Map<number, ConnectionLease>();
    this.leases.set(key, slots);
    const allowed = allowance({ maxConnections, messagesPerSecond: undefined }, this.throttleLevel(key)).maxConnections;
    const held = [...slots.values()].filter((l) => l.expiresAt > now).length;
    for (let slot = 0; slot < allowed && held < allowed; slot++) {
      const held = slots.get(slot);
      if (held && held.expiresAt > now) continue;
      const lease: ConnectionLease = { key, slot, holder: `memory-${++this.serial}`, expiresAt: now + this.policy.leaseTtlMs, ttlMs: this.policy.leaseTtlMs };
      slots.set(slot, lease);
      return Promise.resolve({ granted: true, lease });
    }
    const soonest = Math.min(...[...slots.values()].map((l) => l.expiresAt));
    return Promise.resolve({ granted: false, retryAfterMs: Math.max(250, Math.min(soonest - now, this.policy.leaseTtlMs)) });
  }

  public renewLease(lease: ConnectionLease): Promise<boolean> {
    const held = this.leases.get(lease.key)?.get(lease.slot);
    if (held?.holder !== lease.holder) return Promise.resolve(false);
    lease.expiresAt = this.now() + this.policy.leaseTtlMs;
    held.expiresAt = lease.expiresAt;
    return Promise.resolve(true);
  }

  public releaseLease(lease: ConnectionLease): Promise<void> {
    const slots = this.leases.get(lease.key);
    if (slots?.get(lease.slot)?.holder === lease.holder) slots.delete(lease.slot);
    return Promise.resolve();
  }

  public takeTokens(key: string, messagesPerSecond: number, count: number): Promise<TokenGrant> {
    const result = gcra(this.arrival.get(key), this.now(), rateAt(messagesPerSecond, this.throttleLevel(key)), count);
    this.arrival.set(key, result.tat);
    return Promise.resolve({ granted: result.granted, retryAfterMs: result.retryAfterMs });
  }

  public throttled(key: string): Promise<ThrottleState> {
    const now = this.now();
    const previous = this.throttles.get(key);
    const next = throttleAfter(previous, this.policy, now);
    if (next) this.throttles.set(key, next);
    return Promise.resolve(next ?? previous!);
  }

  public throttleLevel(key: string): number {
    return currentLevel(this.throttles.get(key), this.policy, this.now());
  }

  /** Leases held now per key (`mailrelay routes` on a local run, tests). */
  public leasesInUse(key: string): number {
    const now = this.now();
    return [...(this.leases.get(key)?.values() ?? [])].filter((l) => l.expiresAt > now).length;
  }
}
