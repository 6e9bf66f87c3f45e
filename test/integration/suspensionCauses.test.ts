/**
 * What may suspend a relay for the fleet, and what may not (docs/outage.md), against real
 * smtp-server relays on 127.0.0.1: a slow token endpoint is not the relay's fault; one account's
 * login throttle suspends that account, not every tenant on the relay (also when the account is the
 * user the auth hook answered, not the configured one); a relay that cannot serve
 * the route (no STARTTLS) is skipped for the next relay of the list without being suspended.
 */
import { describe, expect, it } from 'vitest';
import { AuthHookRunner } from '../../lambda/core/authHook/index.js';
import type { OAuth2Client } from '../../lambda/core/config/schema.js';
import type { ReadOptions, TokenProvider } from '../../lambda/core/ports.js';
import { relayMessage, type RelayDependencies } from '../../lambda/core/relay.js';
import { MemoryRouteHealth } from '../../lambda/core/routeHealth.js';
import type { SmtpRelay, SmtpRelayOptions } from '../../local/smtpRelay.js';
import { MemoryConfigStore, MemorySecretSource } from '../helpers/memoryPorts.js';
import { structuredMessage } from '../helpers/messages.js';
import { relayFixtures } from '../helpers/relayFixtures.js';

// Relays and pools are cleaned up after every test (test/helpers/relayFixtures.ts).
const fixtures = relayFixtures();
const relay = (options: SmtpRelayOptions): Promise<SmtpRelay> => fixtures.relay(options);
function deps(config: MemoryConfigStore, extra: Partial<RelayDependencies> & { routeHealth?: MemoryRouteHealth } = {}): RelayDependencies & { routeHealth: MemoryRouteHealth } {
  return { config, secrets: new MemorySecretSource(), pool: fixtures.pool(), routeHealth: new MemoryRouteHealth(), ...extra };
}

describe('what suspends a relay', () => {
  it('a token endpoint slower than the relay timeout does not suspend the relay: the token is fetched before connecting', async () => {
    const r = await relay({ authMethods: ['XOAUTH2'], users: { 'box@acme.example': 'tok-1' } });
    // A slow endpoint behind a cache, as the real provider (lambda/core/oauth) has one: the first
    // request takes longer than the relay's timeout, later ones are served from the cache.
    let cached: string | undefined;
    const slowTokens: TokenProvider = {
      getAccessToken: async (_client: OAuth2Client, _user: string, options?: ReadOptions) => {
        if (cached && !options?.forceRefresh) return cached;
        await new Promise((resolve) => setTimeout(resolve, 2_500));
        return (cached = 'tok-1');
      },
    };
    const config = new MemoryConfigStore({
      global: {
        scope: 'global',
        relay: { host: '127.0.0.1', port: r.port, timeoutSeconds: 1 },
        auth: { type: 'XOAUTH2', user: 'box@acme.example', oauth2: { tokenUrl: 'https://login.example/token', clientId: 'c', clientSecret: { value: 's' }, scope: 's' } },
      },
    });
    const d = deps(config, { tokens: slowTokens });
    const result = await relayMessage(structuredMessage({ to: ['a@example.net'] }), d);
    expect(result.recipients[0]).toMatchObject({ status: 'delivered' });
    expect(result.notices.filter((n) => n.kind === 'suspended')).toEqual([]);
    expect(d.routeHealth.list()).toEqual([]);
  });

  it('one account’s login throttle (454 4.7.0 at AUTH) suspends that account on the relay, not the other tenants', async () => {
    const r = await relay({
      users: { 'tenant-a': 'pa', 'tenant-b': 'pb' },
      onAuth: ({ username }) => (username === 'tenant-a' ? { code: 454, message: '4.7.0 Too many login attempts, please try again later' } : undefined),
    });
    const config = new MemoryConfigStore({
      global: { scope: 'global', relay: { host: '127.0.0.1', port: r.port, timeoutSeconds: 5 } },
      'binding#a': { scope: 'binding#a', auth: { user: 'tenant-a', pass: { value: 'pa' } } },
      'binding#b': { scope: 'binding#b', auth: { user: 'tenant-b', pass: { value: 'pb' } } },
    });
    const d = deps(config);
    const a = await relayMessage(structuredMessage({ to: ['x@example.net'], binding: 'a' }), d);
    const b = await relayMessage(structuredMessage({ to: ['y@example.net'], binding: 'b' }), d);
    expect(a.recipients[0]).toMatchObject({ status: 'deferred', reason: 'relay-throttled' });
    expect(b.recipients[0]).toMatchObject({ status: 'delivered' });
    expect(d.routeHealth.list().map((s) => s.relay)).toEqual([`127.0.0.1:${r.port}#tenant-a`]);
    // Tenant A's next message waits without connecting; tenant B's still goes.
    const again = await relayMessage(structuredMessage({ to: ['z@example.net'], binding: 'a' }), d);
    expect(again.recipients[0]).toMatchObject({ status: 'deferred', reason: 'route-suspended' });
  });

  // The hook's user is the account the relay throttles: the suspension must name it, whatever the
  // config says below the hook (a shared user, or none at all).
  it.each([
    ['a shared configured user', { type: 'PLAIN', user: 'msys', pass: { value: 'configured-pass' } }, '454', '4.7.0 Too many login attempts, please try again later'],
    ['no configured user (the hook supplies it)', { type: 'PLAIN' }, '451', '4.7.500 Server busy. Please try again later'],
  ] as const)('a hook-supplied user’s login throttle (%s) suspends that user’s account only: another tenant on the relay still delivers', async (_case, auth, code, text) => {
    // Prepare
    const r = await relay({
      users: { 'a@tenants.example': 'pa', 'b@tenants.example': 'pb' },
      onAuth: ({ username }) => (username === 'a@tenants.example' ? { code: Number(code), message: text } : undefined),
    });
    const tenants: Record<string, { user: string; pass: string }> = { 'tenant-a': { user: 'a@tenants.example', pass: 'pa' }, 'tenant-b': { user: 'b@tenants.example', pass: 'pb' } };
    const config = new MemoryConfigStore({ global: { scope: 'global', relay: { host: '127.0.0.1', port: r.port, timeoutSeconds: 5 }, auth } });
    const d = deps(config, { authHook: new AuthHookRunner({ module: (c) => tenants[c.auth.key ?? ''] }) });
    const send = (tenant: string, to: string) => relayMessage(structuredMessage({ to: [to], auth: { key: tenant }, idempotencyKey: `${tenant}-${to}` }), d);

    // Act
    const a = await send('tenant-a', 'x@example.net');
    const b = await send('tenant-b', 'y@example.net');
    const attemptsBefore = r.authAttempts.length;
    const aAgain = await send('tenant-a', 'z@example.net');
    const bAgain = await send('tenant-b', 'w@example.net');

    // Assess
    expect(a.recipients[0]).toMatchObject({ status: 'deferred', reason: 'relay-throttled' });
    expect(b.recipients[0]).toMatchObject({ status: 'delivered' });
    expect(d.routeHealth.list().map((s) => s.relay)).toEqual([`127.0.0.1:${r.port}#a@tenants.example`]);
    // Tenant A waits without logging in again; tenant B's next message still goes.
    expect(aAgain.recipients[0]).toMatchObject({ status: 'deferred', reason: 'route-suspended' });
    expect(bAgain.recipients[0]).toMatchObject({ status: 'delivered' });
    expect(r.authAttempts.slice(attemptsBefore).map((x) => x.username)).not.toContain('a@tenants.example');
    expect(r.messages.map((m) => [m.user, m.rcptTo])).toEqual([
      ['b@tenants.example', ['y@example.net']],
      ['b@tenants.example', ['w@example.net']],
    ]);
  });

  it('a relay without STARTTLS where TLS is required is skipped for the next relay of the list, and not suspended', async () => {
    const noTls = await relay({ tls: 'none', users: { u: 'p' } });
    const good = await relay({ users: { u: 'p' } });
    const config = new MemoryConfigStore({
      global: { scope: 'global', relay: [{ host: '127.0.0.1', port: noTls.port, timeoutSeconds: 5 }, { host: '127.0.0.1', port: good.port, timeoutSeconds: 5 }], auth: { user: 'u', pass: { value: 'p' } } },
    });
    const d = deps(config);
    const result = await relayMessage(structuredMessage({ to: ['a@example.net'] }), d);
    expect(result.recipients[0]).toMatchObject({ status: 'delivered' });
    expect(result.notices).toContainEqual(expect.objectContaining({ kind: 'failover', reason: 'tls-required' }));
    expect(d.routeHealth.list()).toEqual([]);
    expect(good.messages).toHaveLength(1);
  });

  it('a probe that meets an authentication failure releases the suspension (the relay answered): no wait for the probe interval', async () => {
    const r = await relay({ users: { u: 'right' } });
    const config = new MemoryConfigStore({ global: { scope: 'global', relay: { host: '127.0.0.1', port: r.port, timeoutSeconds: 5 }, auth: { user: 'u', pass: { value: 'wrong' } } } });
    let now = 1_000_000;
    const health = new MemoryRouteHealth({ baseMs: 1_000, maxMs: 4_000, probeMs: 60_000 }, () => now);
    const d = deps(config, { routeHealth: health });
    await health.refused(`127.0.0.1:${r.port}`, { reason: 'connection' });
    now += 1_001;
    const result = await relayMessage(structuredMessage({ to: ['a@example.net'] }), d);
    expect(result.recipients[0]).toMatchObject({ status: 'deferred', reason: 'auth-failed' });
    expect(health.list()).toEqual([]);
  });
});
