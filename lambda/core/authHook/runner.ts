/**
 * Runs the auth hook for one route of one message, just before its session is taken from the pool
 * (docs/design.md §2): builds the context (metadata and references, never the body or a secret),
 * calls the module hook or the route's `auth.hookFunction` within a timeout, caches the answer per
 * (`auth.key`, route), and returns the route as the hook made it: its auth overridden and its pool
 * key extended with the hook's user and a fingerprint of its credentials, so a session logged in
 * for one tenant never carries another tenant's message.
 */
import { authIssues, routeLabel, stableJson, type EffectiveAuth, type RouteGroup } from '../config/resolve.js';
import type { Keysource, OAuth2Client } from '../config/schema.js';
import { isDeliveryError, PermanentDeliveryError, TransientDeliveryError, formatIssues } from '../errors.js';
import { applyHookAnswer, parseHookAnswer, type HookAuth } from './answer.js';
import { TtlLruCache } from './cache.js';
import type { AuthHookContext, AuthHookInvoker, KeysourceReference, OutboundSmtpAuthConfig } from './types.js';

export const DEFAULT_AUTH_HOOK_TIMEOUT_MS = 2_000;
export const DEFAULT_AUTH_HOOK_CACHE_TTL_MS = 60_000;
export const DEFAULT_AUTH_HOOK_CACHE_SIZE = 1_000;

/** Origin of the fields the hook set, in `config explain` and a route's origins. */
export const HOOK_ORIGIN = 'hook';

export interface AuthHookRunnerOptions {
  /** The bundled module's `outboundSmtpAuthConfig`, if the worker has one. */
  readonly module?: OutboundSmtpAuthConfig | undefined;
  /** Invokes `auth.hookFunction`; absent, a route naming one is a configuration error. */
  readonly invoker?: AuthHookInvoker | undefined;
  /** @default 2000 */
  readonly timeoutMs?: number | undefined;
  /** @default 60000; 0 disables the cache */
  readonly cacheTtlMs?: number | undefined;
  /** @default 1000 */
  readonly cacheSize?: number | undefined;
  readonly now?: (() => number) | undefined;
}

/** The message's metadata the hook may see. */
export interface HookMessage {
  readonly from: string;
  readonly binding: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly idempotencyKey: string;
}

export interface HookedRoute {
  readonly route: RouteGroup;
  /** The fields the hook set (`auth.user`, ...): their origin is `hook`. */
  readonly fields: readonly string[];
  /** Which hook answered: `module` or `function <name>`; undefined when no hook applies. */
  readonly hook?: string | undefined;
  readonly cached: boolean;
}

export interface AuthHookStats {
  readonly calls: number;
  readonly cacheHits: number;
  readonly failures: number;
  readonly totalCallMs: number;
  /** How long each of the last {@link RECENT_CALLS} calls that ended took, oldest first (ms): for percentiles. */
  readonly recentCallMs: readonly number[];
}

/** Call durations kept for {@link AuthHookStats.recentCallMs}. */
export const RECENT_CALLS = 1_024;

type Which = { readonly kind: 'module' } | { readonly kind: 'function'; readonly name: string };

export class AuthHookRunner {
  private readonly cache: TtlLruCache<Promise<HookAuth | undefined>>;
  private readonly timeoutMs: number;
  private readonly now: () => number;
  /** Times hook calls: `now` when the caller gives one (tests), else the sub-millisecond clock. */
  private readonly clock: () => number;
  private counters = { calls: 0, cacheHits: 0, failures: 0, totalCallMs: 0 };
  /** A ring of the last RECENT_CALLS call durations, in the order they ended; `ended` counts them. */
  private readonly callMs: number[] = [];
  private ended = 0;

  public constructor(private readonly options: AuthHookRunnerOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_AUTH_HOOK_TIMEOUT_MS;
    this.now = options.now ?? Date.now;
    this.clock = options.now ?? (() => performance.now());
    this.cache = new TtlLruCache(options.cacheSize ?? DEFAULT_AUTH_HOOK_CACHE_SIZE, options.cacheTtlMs ?? DEFAULT_AUTH_HOOK_CACHE_TTL_MS, this.now);
  }

  /** A module hook is bundled: routes may lack credentials until it answers. */
  public get hasModule(): boolean {
    return this.options.module !== undefined;
  }

  /** Counters since the worker started (no credentials, only counts and timings). */
  public stats(): AuthHookStats {
    const next = this.ended % RECENT_CALLS;
    const recentCallMs = this.callMs.length < RECENT_CALLS ? [...this.callMs] : [...this.callMs.slice(next), ...this.callMs.slice(0, next)];
    return { ...this.counters, recentCallMs };
  }

  /**
   * The route as the hook makes it; unchanged when no hook applies or the hook answers nothing.
   * @throws TransientDeliveryError `auth-hook-failed` (timeout, error, throttle: the message is
   *   deferred, nothing is sent); PermanentDeliveryError `config-error` for a malformed answer
   *   (naming `hook.<field>`) or auth still incomplete after it.
   */
  public async apply(route: RouteGroup, message: HookMessage): Promise<HookedRoute> {
    const which = this.which(route.settings.auth);
    if (!which) return { route, fields: [], cached: false };
    const hookName = which.kind === 'module' ? 'module' : `function ${which.name}`;
    const key = this.cacheKey(which, route);
    let pending = this.cache.get(key);
    const cached = pending !== undefined;
    if (pending) {
      this.counters.cacheHits += 1;
    } else {
      pending = this.call(which, hookContext(route, message));
      this.cache.set(key, pending);
      // A failure is not remembered: the next message asks again.
      pending.catch(() => this.cache.delete(key));
    }
    const answer = await pending;
    if (!answer) {
      const missing = authIssues(route.settings.auth, [route.settings.relay]);
      if (missing.length > 0) throw new PermanentDeliveryError(`the auth hook (${hookName}) answered nothing: ${formatIssues(missing)}`, { reason: 'config-error' });
      return { route, fields: [], hook: hookName, cached };
    }

    const typeWasInferred = route.origins['auth.type'] === 'default';
    const { auth, fields } = applyHookAnswer(route.settings.auth, answer, typeWasInferred);
    const issues = authIssues(auth, [route.settings.relay]);
    if (issues.length > 0) {
      throw new PermanentDeliveryError(`after the auth hook (${hookName}) answered: ${formatIssues(issues)}`, { reason: 'config-error' });
    }
    const settings = { ...route.settings, auth };
    const origins = { ...route.origins, ...Object.fromEntries(fields.map((f) => [f, HOOK_ORIGIN])) };
    // The pool key: the hook's user and a fingerprint (never the secret) of what it authenticates with.
    const credentials = stableJson({ type: auth.type, user: auth.user, pass: auth.pass, hookPass: auth.hookPass, oauth2: auth.oauth2 });
    return { route: { ...route, settings, origins, key: `${route.key}#hook:${credentials}`, label: routeLabel(settings) }, fields, hook: hookName, cached };
  }

  /** Forget the answer for this route: the relay refused the credentials it gave. */
  public invalidate(route: RouteGroup): void {
    const which = this.which(route.settings.auth);
    if (which) this.cache.delete(this.cacheKey(which, route));
  }

  private which(auth: EffectiveAuth): Which | undefined {
    // A route that names a function asks it; the bundled module answers for every other route.
    if (auth.hookFunction !== undefined) return { kind: 'function', name: auth.hookFunction };
    return this.options.module ? { kind: 'module' } : undefined;
  }

  /** Per (`auth.key`, route): the relay and the auth resolved so far (references only). */
  private cacheKey(which: Which, route: RouteGroup): string {
    const { relay, auth } = route.settings;
    return stableJson({ which, key: auth.key ?? null, relay: { host: relay.host.toLowerCase(), port: relay.port, tls: relay.tls }, auth });
  }

  private async call(which: Which, context: AuthHookContext): Promise<HookAuth | undefined> {
    const started = this.clock();
    this.counters.calls += 1;
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const name = which.kind === 'module' ? 'the auth hook module' : `the auth hook function ${which.name}`;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(new TransientDeliveryError(`${name} did not answer within ${this.timeoutMs} ms`, { reason: 'auth-hook-failed' }));
      }, this.timeoutMs);
    });
    try {
      const invoked =
        which.kind === 'module'
          ? Promise.resolve().then(() => this.options.module!(context, { signal: controller.signal }))
          : this.invokeFunction(which.name, context, controller.signal);
      // A call that loses the race to the timeout may still fail later: nobody waits for it then.
      invoked.catch(() => undefined);
      const raw = await Promise.race([invoked, timeout]);
      return parseHookAnswer(raw);
    } catch (error) {
      this.counters.failures += 1;
      if (isDeliveryError(error)) throw error;
      throw new TransientDeliveryError(`${name} failed: ${describe(error)}`, { reason: 'auth-hook-failed' }, { cause: error });
    } finally {
      clearTimeout(timer);
      const ms = this.clock() - started;
      this.counters.totalCallMs += ms;
      this.callMs[this.ended % RECENT_CALLS] = ms;
      this.ended += 1;
    }
  }

  private invokeFunction(name: string, context: AuthHookContext, signal: AbortSignal): Promise<unknown> {
    const invoker = this.options.invoker;
    if (!invoker) {
      return Promise.reject(new PermanentDeliveryError(`auth.hookFunction names ${name}, but this worker cannot invoke functions`, { reason: 'config-error' }));
    }
    return invoker.invoke(name, context, { timeoutMs: this.timeoutMs, signal });
  }
}

/** What the hook sees: metadata and references. Exported for `config explain` and the tests. */
export function hookContext(route: RouteGroup, message: HookMessage): AuthHookContext {
  const { relay, auth } = route.settings;
  const domains = [...new Set(route.recipients.map((r) => r.domain))];
  return {
    from: message.from,
    recipientDomain: domains[0] ?? '',
    recipientDomains: domains,
    binding: message.binding,
    tags: { ...message.tags },
    idempotencyKey: message.idempotencyKey,
    route: { host: relay.host, port: relay.port, tls: relay.tls },
    auth: {
      type: auth.type,
      ...(auth.user !== undefined ? { user: auth.user } : {}),
      ...(auth.pass !== undefined ? { pass: reference(auth.pass) } : {}),
      ...(auth.key !== undefined ? { key: auth.key } : {}),
      ...(auth.oauth2 !== undefined ? { oauth2: oauth2Reference(auth.oauth2) } : {}),
    },
  };
}

function reference(ref: Keysource): KeysourceReference {
  return 'value' in ref ? { value: '(inline value hidden)' } : { ...ref };
}

function oauth2Reference(client: OAuth2Client): Record<string, unknown> {
  return {
    ...client,
    ...(client.clientSecret ? { clientSecret: reference(client.clientSecret) } : {}),
    ...(client.refreshToken ? { refreshToken: reference(client.refreshToken) } : {}),
  };
}

function describe(error: unknown): string {
  const text = error instanceof Error ? `${error.name === 'Error' ? '' : `${error.name}: `}${error.message}` : String(error);
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}
