/**
 * Fleet-wide relay suspension (docs/design.md §3): when a relay refuses sessions, every sandbox
 * stops connecting to it for a growing interval, defers its messages without connecting, and
 * one delivery per interval probes whether it is back. The state is shared (DynamoDB in AWS,
 * lambda/adapters/dynamoRouteHealth.ts); {@link MemoryRouteHealth} is the same rules for one
 * process (tests, and a worker run without a relay-state table).
 */

/** A relay the fleet does not connect to until `until` (epoch ms). Keyed by `host:port`. */
export interface RelaySuspension {
  readonly relay: string;
  readonly until: number;
  /** The length of this suspension; the next one after a failed probe is twice as long. */
  readonly intervalMs: number;
  /** Why it was suspended: the failure's reason and text (never a secret: relays do not echo AUTH). */
  readonly reason: string;
  readonly detail?: string | undefined;
  /** When the relay first refused, in this run of suspensions (epoch ms). */
  readonly since: number;
  /** While a probe is out: when it lapses if its sandbox never reports (epoch ms). */
  readonly probeUntil?: number | undefined;
}

export type RelayCheck =
  | { readonly state: 'open' }
  /** The suspension ran out and this caller holds the one probe: deliver, then report. */
  | { readonly state: 'probe'; readonly suspension: RelaySuspension }
  /** Do not connect before `until`. */
  | { readonly state: 'suspended'; readonly until: number; readonly suspension: RelaySuspension };

export interface RefusalReport {
  readonly reason: string;
  readonly detail?: string | undefined;
}

/** What the worker needs of the shared relay state. */
export interface RouteHealth {
  check(relay: string): Promise<RelayCheck>;
  /**
   * The relay refused a session (or a probe failed). `started` is true for the one caller whose
   * write began (or extended) the suspension: that caller logs it and counts the metric.
   */
  refused(relay: string, failure: RefusalReport): Promise<{ readonly suspension: RelaySuspension; readonly started: boolean }>;
  /** A session worked: ends the relay's suspension, if this caller knows of one. */
  recovered(relay: string): Promise<void>;
}

export interface SuspensionPolicy {
  /** The first suspension. @default 30_000 */
  readonly baseMs: number;
  /** Doubling stops here. @default 900_000 (15 minutes) */
  readonly maxMs: number;
  /** How long a probe may take before another sandbox may probe instead. @default 60_000 */
  readonly probeMs: number;
}

export const DEFAULT_SUSPENSION_POLICY: SuspensionPolicy = { baseMs: 30_000, maxMs: 900_000, probeMs: 60_000 };

/**
 * The length of the next suspension: double the last one if it ended recently (a failed probe,
 * or a relay that failed again soon after), else start over.
 * @example
 * nextSuspensionMs(undefined, policy, now) // → 30_000
 * nextSuspensionMs({ intervalMs: 30_000, until: now - 1, ... }, policy, now) // → 60_000
 */
export function nextSuspensionMs(previous: Pick<RelaySuspension, 'intervalMs' | 'until'> | undefined, policy: SuspensionPolicy, now: number): number {
  if (!previous || now - previous.until > policy.maxMs) return policy.baseMs;
  return Math.min(policy.maxMs, previous.intervalMs * 2);
}

/** Start or extend a suspension from the state seen before the refusal. */
export function suspensionAfter(previous: RelaySuspension | undefined, relay: string, failure: RefusalReport, policy: SuspensionPolicy, now: number): RelaySuspension {
  const intervalMs = nextSuspensionMs(previous, policy, now);
  const continued = previous !== undefined && now - previous.until <= policy.maxMs;
  return { relay, until: now + intervalMs, intervalMs, reason: failure.reason, detail: failure.detail, since: continued ? previous.since : now };
}

/** What a stored suspension means for a caller at `now`, before any probe claim. */
export function stateOf(suspension: RelaySuspension | undefined, now: number): 'open' | 'suspended' | 'probe-due' | 'probing' {
  if (!suspension) return 'open';
  if (suspension.until > now) return 'suspended';
  if (suspension.probeUntil !== undefined && suspension.probeUntil > now) return 'probing';
  return 'probe-due';
}

/** The same rules in one process. */
export class MemoryRouteHealth implements RouteHealth {
  private readonly suspensions = new Map<string, RelaySuspension>();

  public constructor(
    private readonly policy: SuspensionPolicy = DEFAULT_SUSPENSION_POLICY,
    private readonly now: () => number = Date.now,
  ) {}

  public check(relay: string): Promise<RelayCheck> {
    const now = this.now();
    const suspension = this.suspensions.get(relay);
    const state = stateOf(suspension, now);
    if (state === 'open' || !suspension) return Promise.resolve({ state: 'open' });
    if (state === 'suspended') return Promise.resolve({ state: 'suspended', until: suspension.until, suspension });
    if (state === 'probing') return Promise.resolve({ state: 'suspended', until: suspension.probeUntil!, suspension });
    const claimed = { ...suspension, probeUntil: now + this.policy.probeMs };
    this.suspensions.set(relay, claimed);
    return Promise.resolve({ state: 'probe', suspension: claimed });
  }

  public refused(relay: string, failure: RefusalReport): Promise<{ suspension: RelaySuspension; started: boolean }> {
    const now = this.now();
    const previous = this.suspensions.get(relay);
    if (previous && previous.until > now) return Promise.resolve({ suspension: previous, started: false });
    const suspension = suspensionAfter(previous, relay, failure, this.policy, now);
    this.suspensions.set(relay, suspension);
    return Promise.resolve({ suspension, started: true });
  }

  public recovered(relay: string): Promise<void> {
    this.suspensions.delete(relay);
    return Promise.resolve();
  }

  /** Every suspension known, for `mailrelay routes` and tests. */
  public list(): RelaySuspension[] {
    return [...this.suspensions.values()];
  }
}
