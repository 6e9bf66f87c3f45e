/** The auth hook's pieces on their own: the answer, the literal secret, the cache, the runner, the schema. */
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { applyHookAnswer, AuthHookRunner, HookSecret, parseHookAnswer, type AuthHookContext } from '../../../lambda/core/authHook/index.js';
import { RECENT_CALLS } from '../../../lambda/core/authHook/runner.js';
import { TtlLruCache } from '../../../lambda/core/authHook/cache.js';
import { mergeLayers, resolveRoutes, type EffectiveAuth, type RouteGroup } from '../../../lambda/core/config/resolve.js';
import { parseConfigItem } from '../../../lambda/core/config/schema.js';
import { ConfigValidationError, PermanentDeliveryError, TransientDeliveryError } from '../../../lambda/core/errors.js';
import { MemoryConfigStore } from '../../helpers/memoryPorts.js';
import { mailAddress } from '../../helpers/messages.js';

const message = { from: 'billing@acme.example', binding: 'acme.example', tags: { campaign: 'march' }, idempotencyKey: 'k1' };

async function routeFor(auth: Record<string, unknown>, messageKey?: string): Promise<RouteGroup> {
  const store = new MemoryConfigStore({ global: { scope: 'global', relay: { host: 'smtp.example.net', port: 587 }, auth } });
  const { routes, failures } = await resolveRoutes(
    { binding: 'acme.example', senderDomain: 'acme.example', recipients: [mailAddress('bob@partner.example')], auth: messageKey ? { key: messageKey } : undefined },
    store,
    { authHook: true },
  );
  expect(failures).toEqual([]);
  return routes[0]!;
}

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('nothing thrown');
}

describe('parseHookAnswer', () => {
  it('takes nothing as "unchanged"', () => {
    expect(parseHookAnswer(undefined)).toBeUndefined();
    expect(parseHookAnswer(null)).toBeUndefined();
  });

  it('names each bad field as hook.<field>, never quoting the value', () => {
    const cases: [unknown, string][] = [
      [{ pass: 42 }, 'hook.pass'],
      [{ pass: '' }, 'hook.pass'],
      [{ pass: 'line\r\nbreak' }, 'hook.pass'],
      [{ pass: { secret: 'x', extra: 1 } }, 'hook.pass.extra'],
      [{ type: 'CRAM-MD5' }, 'hook.type'],
      [{ user: 'a\r\nb' }, 'hook.user'],
      [{ usr: 'typo' }, 'hook.usr'],
      [{ oauth2: { clientId: 'c' } }, 'hook.oauth2.tokenUrl'],
      ['a string', 'hook'],
      [[1], 'hook'],
    ];
    for (const [raw, path] of cases) {
      const error = caught(() => parseHookAnswer(raw));
      expect(error, JSON.stringify(raw)).toBeInstanceOf(PermanentDeliveryError);
      expect((error as PermanentDeliveryError).reason).toBe('config-error');
      expect((error as Error).message).toContain(`${path}:`);
    }
    expect((caught(() => parseHookAnswer({ pass: 'line\r\nbreak' })) as Error).message).not.toContain('break');
  });

  it('keeps a literal secret as a HookSecret and a keysource as a keysource', () => {
    expect(parseHookAnswer({ user: 'u', pass: 's3cret' })!.hookPass).toBeInstanceOf(HookSecret);
    expect(parseHookAnswer({ user: 'u', pass: 's3cret' })!.pass).toBeUndefined();
    expect(parseHookAnswer({ pass: { secret: 'mailrelay/t1' } })).toEqual({ pass: { secret: 'mailrelay/t1' } });
  });
});

describe('HookSecret', () => {
  it('shows its fingerprint, never its value, in JSON, inspect and strings', () => {
    const secret = new HookSecret('the-literal-password');
    const auth = { type: 'PLAIN', user: 'u', hookPass: secret };
    for (const text of [JSON.stringify(auth), inspect(auth, { depth: 5, showHidden: true }), `${secret}`, String(secret)]) {
      expect(text).not.toContain('the-literal-password');
      expect(text).toContain(secret.fingerprint);
    }
    expect(secret.reveal()).toBe('the-literal-password');
    expect(new HookSecret('the-literal-password').fingerprint).toBe(secret.fingerprint);
    expect(new HookSecret('another').fingerprint).not.toBe(secret.fingerprint);
  });
});

describe('applyHookAnswer', () => {
  const base: EffectiveAuth = { type: 'XOAUTH2', user: 'cfg@x', key: 'k', messageKeysources: [], oauth2: { clientId: 'c', tenantId: 't', scope: 's' } };

  it('overrides only the fields it sets; a pass drops a lower oauth2 client', () => {
    const { auth, fields } = applyHookAnswer(base, { type: 'PLAIN', pass: { secret: 'mailrelay/t' } }, false);
    expect(auth).toMatchObject({ type: 'PLAIN', user: 'cfg@x', key: 'k', pass: { secret: 'mailrelay/t' }, oauth2: undefined });
    expect(fields.sort()).toEqual(['auth.pass', 'auth.type']);
  });

  it('infers the mechanism again when none was configured', () => {
    const { auth } = applyHookAnswer({ type: 'NONE', messageKeysources: [] }, { user: 'u', hookPass: new HookSecret('p') }, true);
    expect(auth.type).toBe('PLAIN');
    const kept = applyHookAnswer({ type: 'LOGIN', messageKeysources: [] }, { user: 'u', hookPass: new HookSecret('p') }, false);
    expect(kept.auth.type).toBe('LOGIN');
  });
});

describe('TtlLruCache', () => {
  it('evicts the least recently used beyond its size and expires entries after the TTL', () => {
    let now = 0;
    const cache = new TtlLruCache<string>(2, 1000, () => now);
    cache.set('a', '1');
    cache.set('b', '2');
    expect(cache.get('a')).toBe('1');
    cache.set('c', '3');
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toBe('1');
    expect(cache.size).toBe(2);
    now = 1000;
    expect(cache.get('a')).toBeUndefined();
  });
});

describe('AuthHookRunner', () => {
  it('calls the hook once per (auth.key, route) within the TTL, again after it and after invalidate', async () => {
    let now = 0;
    const seen: AuthHookContext[] = [];
    const runner = new AuthHookRunner({ now: () => now, cacheTtlMs: 1000, module: (c) => (seen.push(c), { user: `user-${c.auth.key}`, pass: `pw-${c.auth.key}` }) });
    const a = await routeFor({ type: 'PLAIN' }, 'tenant-a');
    const b = await routeFor({ type: 'PLAIN' }, 'tenant-b');

    const first = await runner.apply(a, message);
    await runner.apply(a, message);
    await runner.apply(b, message);
    expect(seen.map((c) => c.auth.key)).toEqual(['tenant-a', 'tenant-b']);
    expect(first.route.settings.auth.user).toBe('user-tenant-a');
    expect(first.route.origins['auth.user']).toBe('hook');
    expect(first.route.key).not.toContain('pw-tenant-a');
    now = 1000;
    await runner.apply(a, message);
    runner.invalidate(a);
    await runner.apply(a, message);
    expect(seen).toHaveLength(4);
    expect(runner.stats()).toMatchObject({ calls: 4, cacheHits: 1 });
  });

  it('keeps the durations of the last RECENT_CALLS calls, oldest first, and no credentials in its stats', async () => {
    // Each call takes (call number % 7) ms on the runner's clock; the cache is off, so every apply calls.
    let now = 0;
    let n = 0;
    const runner = new AuthHookRunner({ now: () => now, cacheTtlMs: 0, module: () => ((now += n++ % 7), { user: 'u', pass: 'pw-secret' }) });
    const route = await routeFor({ type: 'PLAIN' }, 'k');
    const total = RECENT_CALLS + 6;
    for (let i = 0; i < total; i++) await runner.apply(route, message);
    const stats = runner.stats();
    expect(stats.calls).toBe(total);
    expect(stats.recentCallMs).toHaveLength(RECENT_CALLS);
    expect(stats.recentCallMs.slice(0, 3)).toEqual([6 % 7, 7 % 7, 8 % 7]);
    expect(stats.recentCallMs.at(-1)).toBe((total - 1) % 7);
    expect(stats.totalCallMs).toBe(Array.from({ length: total }, (_, i) => i % 7).reduce((a, b) => a + b, 0));
    expect(JSON.stringify(stats)).not.toContain('pw-secret');
  });

  it('times out a hook that never answers (transient auth-hook-failed) and does not cache the failure', async () => {
    let calls = 0;
    const runner = new AuthHookRunner({ timeoutMs: 20, module: () => (calls++ === 0 ? new Promise(() => undefined) : { user: 'u', pass: 'p' }) });
    const route = await routeFor({ type: 'PLAIN' }, 'k');
    const error = await runner.apply(route, message).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientDeliveryError);
    expect((error as TransientDeliveryError).reason).toBe('auth-hook-failed');
    expect((await runner.apply(route, message)).route.settings.auth.user).toBe('u');
  });

  it('answers that leave the mechanism incomplete are a config error naming the field', async () => {
    const runner = new AuthHookRunner({ module: () => ({ type: 'LOGIN' }) });
    const error = await runner.apply(await routeFor({}, 'k'), message).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PermanentDeliveryError);
    expect((error as Error).message).toContain('auth.pass');
  });

  it('a route naming a function, with no way to invoke it, is a config error', async () => {
    const runner = new AuthHookRunner({});
    const error = await runner.apply(await routeFor({ type: 'PLAIN', hookFunction: 'tenant-auth' }, 'k'), message).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PermanentDeliveryError);
    expect((error as Error).message).toContain('tenant-auth');
  });

  it('prefers the route\'s function over the bundled module', async () => {
    const invoked: string[] = [];
    const runner = new AuthHookRunner({
      module: () => ({ user: 'from-module', pass: 'm' }),
      invoker: { invoke: async (name) => (invoked.push(name), { user: 'from-function', pass: 'f' }) },
    });
    const hooked = await runner.apply(await routeFor({ type: 'PLAIN', hookFunction: 'tenant-auth:live' }, 'k'), message);
    expect(hooked.route.settings.auth.user).toBe('from-function');
    expect(invoked).toEqual(['tenant-auth:live']);
    expect(hooked.hook).toBe('function tenant-auth:live');
  });
});

describe('config: auth.hookFunction', () => {
  it('accepts names, aliases and ARNs in any scope; refuses anything else naming the field', () => {
    for (const fn of ['tenant-auth', 'tenant-auth:live', '123456789012:function:tenant-auth', 'arn:aws:lambda:eu-west-1:123456789012:function:tenant-auth:3']) {
      expect(parseConfigItem({ scope: 'domain#partner.example', auth: { hookFunction: fn } }).auth?.hookFunction).toBe(fn);
    }
    for (const fn of ['', 'arn:aws:sqs:eu-west-1:123456789012:q', 'name with space', 'arn:aws:lambda:eu-west-1:123456789012:function:*']) {
      const error = caught(() => parseConfigItem({ scope: 'global', auth: { hookFunction: fn } }));
      expect(error).toBeInstanceOf(ConfigValidationError);
      expect((error as ConfigValidationError).issues[0]!.path).toBe('auth.hookFunction');
    }
  });

  it('lets a route without credentials through only when a hook may answer', () => {
    const layers = [{ origin: 'global', item: { relay: { host: 'smtp.example.net' }, auth: { type: 'PLAIN' as const } } }];
    expect(mergeLayers(layers, 'acme.example')).toBeInstanceOf(ConfigValidationError);
    expect(mergeLayers(layers, 'acme.example', { authHook: true })).not.toBeInstanceOf(ConfigValidationError);
    const withFunction = [{ origin: 'global', item: { relay: { host: 'smtp.example.net' }, auth: { type: 'PLAIN' as const, hookFunction: 'tenant-auth' } } }];
    const merged = mergeLayers(withFunction, 'acme.example');
    expect(merged).not.toBeInstanceOf(ConfigValidationError);
    expect((merged as { origins: Record<string, string> }).origins['auth.hookFunction']).toBe('global');
  });
});
