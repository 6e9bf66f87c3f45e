/**
 * Pooled SMTP sessions per route. Records of a batch that share a route share connections, with
 * at most `limits.maxConnections` open per route and at most `limits.maxMessagesPerConnection`
 * transactions per connection. The pool lives at module scope in the handler, so it survives
 * warm invocations; a connection the relay closed while idle is replaced, never used.
 */
import type { RouteGroup } from '../config/resolve.js';
import { SmtpSession, type SessionCredentials } from './session.js';

export interface SmtpPoolOptions {
  /** Extra trusted CAs for the TLS handshake (local stand-ins, private relays). */
  readonly ca?: string | Buffer | readonly (string | Buffer)[] | undefined;
  /** Idle sessions older than this are closed rather than reused. @default 60_000 */
  readonly idleTimeoutMs?: number;
  /**
   * A session idle longer than this is probed with RSET before reuse: a relay (or a NAT on the
   * way) may have dropped it while the Lambda sandbox was frozen. @default 2_000
   */
  readonly probeAfterIdleMs?: number;
}

export interface PoolStats {
  /** Connections opened since the pool was created (authenticated or not). */
  readonly connectionsOpened: number;
  /** Successful AUTH exchanges. */
  readonly authentications: number;
  /** Sessions open right now, per route key. */
  readonly open: Readonly<Record<string, number>>;
}

interface RouteState {
  idle: SmtpSession[];
  /** Sessions handed out or being opened. */
  busy: number;
  waiters: (() => void)[];
}

/** Opens a session for a route; the pool calls it when it needs a new connection. */
export type SessionOpener = () => Promise<SessionCredentials>;

export class SmtpPool {
  private readonly routes = new Map<string, RouteState>();
  private readonly idleTimeoutMs: number;
  private readonly probeAfterIdleMs: number;
  private opened = 0;
  private authenticated = 0;

  public constructor(private readonly options: SmtpPoolOptions = {}) {
    this.idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
    this.probeAfterIdleMs = options.probeAfterIdleMs ?? 2_000;
  }

  /**
   * Run `use` with a session of `route`, opening one (with `credentials()`) when none is idle and
   * the route has room, else waiting for one. A session whose use threw is closed, not reused.
   */
  public async withSession<T>(
    route: RouteGroup,
    credentials: SessionOpener,
    use: (session: SmtpSession, reused: boolean) => Promise<T>,
  ): Promise<T> {
    const { session, reused } = await this.acquire(route, credentials);
    let healthy = false;
    try {
      const result = await use(session, reused);
      healthy = true;
      return result;
    } finally {
      this.release(route, session, healthy);
    }
  }

  public stats(): PoolStats {
    const open: Record<string, number> = {};
    for (const [key, state] of this.routes) open[key] = state.busy + state.idle.length;
    return { connectionsOpened: this.opened, authentications: this.authenticated, open };
  }

  /** QUIT every idle session (end of a local run, tests). Busy sessions close when released. */
  public closeIdle(): void {
    for (const state of this.routes.values()) {
      for (const session of state.idle.splice(0)) session.close();
    }
  }

  private state(route: RouteGroup): RouteState {
    let state = this.routes.get(route.key);
    if (!state) {
      state = { idle: [], busy: 0, waiters: [] };
      this.routes.set(route.key, state);
    }
    return state;
  }

  private async acquire(route: RouteGroup, credentials: SessionOpener): Promise<{ session: SmtpSession; reused: boolean }> {
    const state = this.state(route);
    for (;;) {
      const idle = state.idle.pop();
      if (idle) {
        state.busy += 1;
        if (await this.stillGood(idle, route)) return { session: idle, reused: true };
        idle.close();
        state.busy -= 1;
        continue;
      }
      if (state.busy < route.settings.limits.maxConnections) {
        state.busy += 1;
        try {
          const creds = await credentials();
          const session = await SmtpSession.open({ relay: route.settings.relay, credentials: creds, ca: this.options.ca });
          this.opened += 1;
          if (creds.mechanism !== 'NONE') this.authenticated += 1;
          return { session, reused: false };
        } catch (error) {
          state.busy -= 1;
          this.wakeOne(state);
          throw error;
        }
      }
      await new Promise<void>((resolve) => state.waiters.push(resolve));
    }
  }

  private async stillGood(session: SmtpSession, route: RouteGroup): Promise<boolean> {
    if (!session.usable) return false;
    if (session.messagesSent >= route.settings.limits.maxMessagesPerConnection) return false;
    const idleFor = Date.now() - session.lastUsedAt;
    if (idleFor > this.idleTimeoutMs) return false;
    if (idleFor > this.probeAfterIdleMs) {
      try {
        await session.reset();
      } catch {
        return false;
      }
    }
    return true;
  }

  private release(route: RouteGroup, session: SmtpSession, healthy: boolean): void {
    const state = this.state(route);
    state.busy -= 1;
    if (healthy && session.usable && session.messagesSent < route.settings.limits.maxMessagesPerConnection) {
      state.idle.push(session);
    } else {
      session.close();
    }
    this.wakeOne(state);
  }

  private wakeOne(state: RouteState): void {
    state.waiters.shift()?.();
  }
}
