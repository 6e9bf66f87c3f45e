/**
 * Pooled SMTP sessions, bounded whatever the messages say (docs/design.md §3, bounded caches and
 * pools). Sessions are keyed by what the relay sees — host, port, TLS mode, mechanism, user and the
 * credential's reference — never by values a message chooses (the EHLO name, which defaults to the
 * sender's domain; `auth.key`), so sixty sender domains share the route's sessions. Per relay, at
 * most `limits.maxConnections` sessions are open (fleet-wide when the {@link RelayLimits} share
 * their state: each session holds a lease, renewed while it is open and released when it closes);
 * per sandbox, at most `maxOpenSessions` in all. A timer (unref'd: it never keeps a sandbox or a
 * test alive) closes idle sessions after `idleTimeoutMs` (sooner, `leasedIdleTimeoutMs`, when
 * they hold a fleet-wide lease) even when their route is not used again,
 * and retires sessions older than `limits.maxConnectionAgeSeconds`. A session the relay closed
 * while idle is replaced, never used.
 */
import type { EffectiveSettings, RouteGroup } from '../config/resolve.js';
import type { ConnectionLease } from '../relayLimiter.js';
import { RelayLimits } from '../relayLimits.js';
import { MemoryRelayLimiter } from '../relayLimiter.js';
import { SmtpSession, type SessionCredentials } from './session.js';

export interface SmtpPoolOptions {
  /** Extra trusted CAs for the TLS handshake (local stand-ins, private relays). */
  readonly ca?: string | Buffer | readonly (string | Buffer)[] | undefined;
  /** Idle sessions are closed after this long, by the timer or before reuse (their lease goes back to the fleet). @default 10_000 */
  readonly idleTimeoutMs?: number;
  /**
   * A session idle longer than this is probed with RSET before reuse: a relay (or a NAT on the
   * way) may have dropped it while the Lambda sandbox was frozen. @default 2_000
   */
  readonly probeAfterIdleMs?: number;
  /**
   * Idle sessions holding a fleet-wide lease (a shared limiter) are closed after this long, if
   * sooner than `idleTimeoutMs`: an idle session keeps a slot other sandboxes may be waiting for.
   * @default 2_000
   */
  readonly leasedIdleTimeoutMs?: number;
  /** Open sessions in this sandbox, all relays together. @default 32 */
  readonly maxOpenSessions?: number;
  /** The relays' connection and rate limits. @default per-process limits (a {@link MemoryRelayLimiter}) */
  readonly limits?: RelayLimits;
  /** How often the timer closes idle and old sessions and renews leases. @default 1_000 */
  readonly sweepIntervalMs?: number;
}

export interface PoolStats {
  /** Connections opened since the pool was created (authenticated or not). */
  readonly connectionsOpened: number;
  /** Successful AUTH exchanges. */
  readonly authentications: number;
  /** Sessions open right now, per pool key. */
  readonly open: Readonly<Record<string, number>>;
  /** Sessions open right now in all. */
  readonly total: number;
  /** Sessions closed by the timer (idle, too old, or the relay had closed them). */
  readonly retired: number;
}

interface PooledSession {
  readonly session: SmtpSession;
  lease: ConnectionLease | undefined;
  /** The lease lapsed and another holder took the slot: close at the next chance. */
  leaseLost: boolean;
}

interface KeyState {
  readonly limitKey: string;
  idle: PooledSession[];
  /** Sessions handed out or being opened. */
  busy: number;
  /** Of `busy`: sessions being opened (one may never be usable: a relay that hangs or refuses). */
  pending: number;
  /** The last settings seen for the key: what the timer checks ages against. */
  settings: EffectiveSettings;
}

/** Opens a session for a route; the pool calls it when it needs a new connection. */
export type SessionOpener = () => Promise<SessionCredentials>;

/**
 * The identity of a session as the relay sees it. Holds keysource references, never secrets: two
 * routes with the same user but different password references do not share a session, so a
 * message can never ride on a session authenticated with someone else's credential.
 */
export function sessionKey(settings: Pick<EffectiveSettings, 'relay' | 'auth'>): string {
  const { relay, auth } = settings;
  return JSON.stringify([
    relay.host.toLowerCase(),
    relay.port,
    relay.tls,
    relay.verifyCertificate,
    relay.allowInsecureAuth,
    auth.type,
    auth.type === 'NONE' ? null : (auth.user ?? null),
    auth.type === 'NONE' ? null : (auth.pass ?? null),
    auth.type === 'XOAUTH2' ? (auth.oauth2 ?? null) : null,
  ]);
}

export class SmtpPool {
  private readonly keys = new Map<string, KeyState>();
  private readonly pooled = new Map<SmtpSession, PooledSession>();
  private readonly idleTimeoutMs: number;
  private readonly leasedIdleTimeoutMs: number;
  private readonly probeAfterIdleMs: number;
  private readonly maxOpen: number;
  private readonly sweepMs: number;
  public readonly limits: RelayLimits;
  private waiters: (() => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  private opened = 0;
  private authenticated = 0;
  private retired = 0;
  /** Sessions being opened (counted in their key's `busy` and here). */
  private opening = 0;

  public constructor(private readonly options: SmtpPoolOptions = {}) {
    this.idleTimeoutMs = options.idleTimeoutMs ?? 10_000;
    this.leasedIdleTimeoutMs = Math.min(this.idleTimeoutMs, options.leasedIdleTimeoutMs ?? 2_000);
    this.probeAfterIdleMs = options.probeAfterIdleMs ?? 2_000;
    this.maxOpen = options.maxOpenSessions ?? 32;
    this.sweepMs = options.sweepIntervalMs ?? 1_000;
    this.limits = options.limits ?? new RelayLimits(new MemoryRelayLimiter());
  }

  /**
   * Run `use` with a session of `route`, opening one (with `credentials()`) when none is idle and
   * the relay has room, else waiting for one. A session whose use threw is closed, not reused.
   * @throws LimitDeferral (reason `connection-limit`) when the relay's connections are all in use
   *   across the fleet for longer than the limits' wait
   */
  public async withSession<T>(
    route: RouteGroup,
    credentials: SessionOpener,
    use: (session: SmtpSession, reused: boolean) => Promise<T>,
  ): Promise<T> {
    const { entry, reused } = await this.acquire(route, credentials);
    let healthy = false;
    try {
      const result = await use(entry.session, reused);
      healthy = true;
      return result;
    } finally {
      this.release(route, entry, healthy);
    }
  }

  public stats(): PoolStats {
    const open: Record<string, number> = {};
    let total = 0;
    for (const [key, state] of this.keys) {
      const count = openIn(state);
      if (count > 0) open[key] = count;
      total += count;
    }
    return { connectionsOpened: this.opened, authentications: this.authenticated, open, total, retired: this.retired };
  }

  /** Close every idle session (end of a local run, tests). Busy sessions close when released. */
  public closeIdle(): void {
    for (const state of this.keys.values()) {
      for (const entry of state.idle.splice(0)) this.close(entry);
    }
    this.notify();
    this.stopTimerIfEmpty();
  }

  private state(route: RouteGroup, key: string): KeyState {
    let state = this.keys.get(key);
    if (!state) {
      state = { limitKey: this.limits.key(route.settings), idle: [], busy: 0, pending: 0, settings: route.settings };
      this.keys.set(key, state);
    }
    state.settings = route.settings;
    return state;
  }

  private total(): number {
    let total = 0;
    for (const state of this.keys.values()) total += openIn(state);
    return total;
  }

  /** Sessions of one relay (limit key) open in this sandbox. */
  private openFor(limitKey: string): number {
    let count = 0;
    for (const state of this.keys.values()) if (state.limitKey === limitKey) count += openIn(state);
    return count;
  }

  private async acquire(route: RouteGroup, credentials: SessionOpener): Promise<{ entry: PooledSession; reused: boolean }> {
    const key = sessionKey(route.settings);
    const state = this.state(route, key);
    for (;;) {
      const idle = state.idle.pop();
      if (idle) {
        state.busy += 1;
        let good = false;
        try {
          good = await this.stillGood(idle, route);
        } catch {
          // A lease that cannot be renewed: the session is closed below; opening a new one reports the error.
        }
        if (good) return { entry: idle, reused: true };
        state.busy -= 1;
        this.close(idle);
        continue;
      }
      const max = this.limits.allowance(route.settings).maxConnections;
      // An idle session of the same relay under other credentials gives way before anyone waits.
      if (this.openFor(state.limitKey) >= max && this.closeLeastRecentIdle((other) => other !== state && other.limitKey === state.limitKey)) continue;
      if (this.openFor(state.limitKey) >= max || !this.roomForOne(state)) {
        await this.waitForChange();
        continue;
      }
      state.busy += 1;
      state.pending += 1;
      this.opening += 1;
      let lease: ConnectionLease | 'session-free';
      try {
        // Waits (bounded) while every slot of the relay is held elsewhere in the fleet.
        lease = await this.limits.lease(route.settings, (ms) => this.waitForChange(ms, () => state.idle.length > 0));
      } catch (error) {
        state.busy -= 1;
        state.pending -= 1;
        this.opening -= 1;
        this.notify();
        throw error;
      }
      if (lease === 'session-free') {
        state.busy -= 1;
        state.pending -= 1;
        this.opening -= 1;
        continue;
      }
      try {
        const creds = await credentials();
        const session = await SmtpSession.open({ relay: route.settings.relay, credentials: creds, ca: this.options.ca });
        this.opened += 1;
        if (creds.mechanism !== 'NONE') this.authenticated += 1;
        const entry: PooledSession = { session, lease, leaseLost: false };
        this.pooled.set(session, entry);
        this.startTimer();
        return { entry, reused: false };
      } catch (error) {
        state.busy -= 1;
        void this.limits.release(lease);
        this.notify();
        throw error;
      } finally {
        state.pending -= 1;
        this.opening -= 1;
      }
    }
  }

  /**
   * Room for one more session of `state`'s key in the sandbox. At the cap, the least recently used
   * idle session of another key is closed for it only when this key has none open (so every route
   * makes progress), or when the other key holds at least two more than this one (so busy keys
   * converge on equal shares, and two keys never trade one session back and forth). Otherwise the
   * message waits for a session of its own key: closing another route's idle session to open one
   * costs a TLS handshake and an AUTH, and the other route pays the same when its next message
   * comes (measured: half of all messages opened a session with 50 in flight over 10 routes,
   * docs/performance.md).
   */
  private roomForOne(state: KeyState): boolean {
    if (this.total() < this.maxOpen) return true;
    // Sessions still being opened do not count as this key's: one may never come (a relay that
    // hangs or refuses), and the key's other messages must not queue behind it, each waiting for
    // the one before it to fail.
    const mine = openIn(state) - state.pending;
    return this.closeLeastRecentIdle((other) => other !== state && (mine === 0 || openIn(other) > mine + 1));
  }

  /** Close the least recently used idle session among the keys `which` accepts; false when there is none. */
  private closeLeastRecentIdle(which: (state: KeyState) => boolean): boolean {
    let oldest: { state: KeyState; entry: PooledSession } | undefined;
    for (const state of this.keys.values()) {
      const entry = state.idle[0];
      if (entry && which(state) && (!oldest || entry.session.lastUsedAt < oldest.entry.session.lastUsedAt)) oldest = { state, entry };
    }
    if (!oldest) return false;
    oldest.state.idle.shift();
    this.close(oldest.entry);
    return true;
  }

  private async stillGood(entry: PooledSession, route: RouteGroup): Promise<boolean> {
    const { session } = entry;
    if (!session.usable || entry.leaseLost || this.tooOld(session, route.settings) || this.overAllowance(entry, route.settings)) return false;
    if (session.messagesSent >= route.settings.limits.maxMessagesPerConnection) return false;
    const idleFor = Date.now() - session.lastUsedAt;
    if (idleFor > this.idleLimit(entry)) return false;
    if (entry.lease && entry.lease.expiresAt - Date.now() <= entry.lease.ttlMs / 2 && !(await this.limits.renew(entry.lease))) return false;
    if (idleFor > this.probeAfterIdleMs) {
      try {
        await session.reset();
      } catch {
        return false;
      }
    }
    return true;
  }

  /** The session holds a slot at or above the relay's allowance (lowered by a throttle since it was taken). */
  private overAllowance(entry: PooledSession, settings: EffectiveSettings): boolean {
    return entry.lease !== undefined && entry.lease.slot >= this.limits.allowance(settings).maxConnections;
  }

  /** How long a session may sit idle: less when it holds a slot of a fleet-wide limit. */
  private idleLimit(entry: PooledSession): number {
    return entry.lease && entry.lease.slot >= 0 && this.limits.limiter.shared ? this.leasedIdleTimeoutMs : this.idleTimeoutMs;
  }

  private tooOld(session: SmtpSession, settings: EffectiveSettings): boolean {
    return Date.now() - session.openedAt >= settings.limits.maxConnectionAgeSeconds * 1000;
  }

  private release(route: RouteGroup, entry: PooledSession, healthy: boolean): void {
    const state = this.state(route, sessionKey(route.settings));
    state.busy -= 1;
    const { session } = entry;
    const keep =
      healthy &&
      session.usable &&
      !entry.leaseLost &&
      !this.tooOld(session, route.settings) &&
      session.messagesSent < route.settings.limits.maxMessagesPerConnection &&
      // A throttled relay gets fewer connections: the one over its allowance is dropped, and so is
      // a session holding a slot the lowered allowance no longer has (whichever sandbox holds it).
      this.openFor(state.limitKey) < this.limits.allowance(route.settings).maxConnections &&
      !this.overAllowance(entry, route.settings);
    if (keep) state.idle.push(entry);
    else this.close(entry);
    this.notify();
  }

  private close(entry: PooledSession): void {
    const lease = entry.lease;
    entry.lease = undefined;
    this.pooled.delete(entry.session);
    if (lease && lease.slot >= 0) {
      // The slot goes back once the relay has closed the connection (or 2 s passed), so that
      // another sandbox's new session never overlaps this one at the relay.
      void entry.session
        .quit(2_000)
        .catch(() => undefined)
        .then(() => this.limits.release(lease))
        .finally(() => this.notify());
    } else {
      entry.session.close();
      if (lease) void this.limits.release(lease);
    }
    this.stopTimerIfEmpty();
  }

  /**
   * Wait until a session is released or closed (or `ms` pass, or `done()` already holds):
   * 'session-free' when `done()` holds, 'changed' when woken by a change that did not make it
   * hold, 'timeout' when `ms` passed.
   */
  private waitForChange(ms?: number, done?: () => boolean): Promise<'session-free' | 'changed' | 'timeout'> {
    if (done?.()) return Promise.resolve('session-free');
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const wake = (): void => {
        if (timer) clearTimeout(timer);
        resolve(done ? (done() ? 'session-free' : 'changed') : 'session-free');
      };
      if (ms !== undefined) {
        timer = setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== wake);
          resolve('timeout');
        }, ms);
      }
      this.waiters.push(wake);
    });
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  private startTimer(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.sweep(), this.sweepMs);
    this.timer.unref();
  }

  private stopTimerIfEmpty(): void {
    if (this.timer && this.pooled.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /** Close idle sessions that timed out, grew too old, were closed by the relay or hold a slot a throttle took away; renew the leases of the others. */
  private async sweep(): Promise<void> {
    const now = Date.now();
    let changed = false;
    for (const state of this.keys.values()) {
      for (const entry of [...state.idle]) {
        const { session } = entry;
        if (!session.usable || entry.leaseLost || now - session.lastUsedAt > this.idleLimit(entry) || this.tooOld(session, state.settings) || this.overAllowance(entry, state.settings)) {
          state.idle.splice(state.idle.indexOf(entry), 1);
          this.close(entry);
          this.retired += 1;
          changed = true;
        }
      }
    }
    if (changed) this.notify();
    await Promise.all(
      [...this.pooled.values()].map(async (entry) => {
        const lease = entry.lease;
        if (!lease || lease.slot < 0) return;
        // Renewed once less than half of it is left.
        if (lease.expiresAt - now > lease.ttlMs / 2) return;
        if (!(await this.limits.renew(lease))) entry.leaseLost = true;
      }),
    );
  }
}

/** Sessions of one key: handed out, being opened, or idle. */
function openIn(state: KeyState): number {
  return state.busy + state.idle.length;
}
