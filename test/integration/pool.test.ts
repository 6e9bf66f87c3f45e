/**
 * The bounded pool (docs/design.md §3, bounded caches and pools) against smtp-server relays with
 * STARTTLS and AUTH PLAIN on 127.0.0.1: sessions keyed by what the relay sees, a cap per relay and
 * per sandbox, idle sessions closed by the timer, old sessions retired, a session the relay
 * dropped replaced without failing the message.
 */
import { describe, expect, it } from 'vitest';
import { mergeLayers, routeKey, routeLabel, type RouteGroup, type SettingLayer } from '../../lambda/core/config/resolve.js';
import { MemoryRelayLimiter } from '../../lambda/core/relayLimiter.js';
import { RelayLimits } from '../../lambda/core/relayLimits.js';
import { SmtpPool, sessionKey } from '../../lambda/core/smtp/pool.js';
import type { SessionCredentials } from '../../lambda/core/smtp/session.js';
import { relayFixtures } from '../helpers/relayFixtures.js';

const PASSWORD = 'Pool-Pw-91c3e7';
// Relays and pools are cleaned up after every test (test/helpers/relayFixtures.ts).
const { relay, pool } = relayFixtures({ users: { 'billing@acme.example': PASSWORD } });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The route a message from `senderDomain` gets: the EHLO name defaults to its domain, `auth.key` is the message's. */
function route(port: number, senderDomain: string, extra: { authKey?: string; limits?: Record<string, unknown> } = {}): RouteGroup {
  const layer: SettingLayer = {
    origin: 'global',
    item: {
      relay: { host: '127.0.0.1', port, tls: 'starttls', timeoutSeconds: 10 },
      auth: { type: 'PLAIN', user: 'billing@acme.example', pass: { secret: 'mailrelay/acme' }, key: extra.authKey },
      limits: { maxConnections: 2, ...extra.limits },
    },
  };
  const merged = mergeLayers([layer], senderDomain);
  if (!('settings' in merged)) throw merged;
  return { ...merged, recipients: [], key: routeKey(merged.settings), label: routeLabel(merged.settings) };
}

const credentials = (): Promise<SessionCredentials> => Promise.resolve({ mechanism: 'PLAIN', user: 'billing@acme.example', pass: PASSWORD });

async function send(p: SmtpPool, r: RouteGroup, to: string): Promise<void> {
  await p.withSession(r, credentials, async (session) => {
    await session.send({ from: `billing@${r.settings.relay.ehloName}`, to: [to] }, Buffer.from(`Subject: hi\r\n\r\nhello ${to}\r\n`));
  });
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 100 && !condition(); i++) await sleep(50);
  if (!condition()) throw new Error(`still waiting for ${what}`);
}

describe('SmtpPool', () => {
  it('sixty sender domains (sixty EHLO names, sixty auth.key values) to one relay with maxConnections 2 open at most two sessions', async () => {
    const r = await relay();
    const p = pool();
    const routes = Array.from({ length: 60 }, (_, i) => route(r.port, `sender${i}.example`, { authKey: `key-${i}` }));
    expect(new Set(routes.map((x) => x.key)).size).toBe(60);
    expect(new Set(routes.map((x) => sessionKey(x.settings))).size).toBe(1);

    await Promise.all(routes.map((x, i) => send(p, x, `rcpt${i}@example.net`)));

    expect(r.messages).toHaveLength(60);
    expect(r.peakSessions).toBeLessThanOrEqual(2);
    expect(r.connectionCount).toBeLessThanOrEqual(2);
    expect(r.authAttempts.length).toBeLessThanOrEqual(2);
    expect(p.stats().total).toBeLessThanOrEqual(2);
  });

  it('the same user with another password reference never shares a session', () => {
    const a = route(2525, 'a.example');
    const b = { ...a, settings: { ...a.settings, auth: { ...a.settings.auth, pass: { secret: 'mailrelay/other' } } } };
    expect(sessionKey(a.settings)).not.toBe(sessionKey(b.settings));
  });

  it('caps the sessions of the whole sandbox: a new relay closes the least recently used idle session', async () => {
    const [one, two, three] = [await relay(), await relay(), await relay()];
    const p = pool({ maxOpenSessions: 2 });
    await send(p, route(one.port, 'a.example'), 'x@example.net');
    await send(p, route(two.port, 'a.example'), 'y@example.net');
    await send(p, route(three.port, 'a.example'), 'z@example.net');
    expect(p.stats().total).toBe(2);
    // Closed by the pool: it said QUIT (the relay may keep its side open a little longer).
    await until(() => one.sessions[0]!.commands.includes('QUIT'), 'the first relay’s session to close');
    expect([...two.sessions, ...three.sessions].filter((x) => x.commands.includes('QUIT'))).toHaveLength(0);
  });

  it('at the sandbox cap, a burst on one route waits for its own session instead of closing another route’s', async () => {
    const [one, two] = [await relay(), await relay()];
    // Two routes that could each use two sessions, in a sandbox capped at two.
    const p = pool({ maxOpenSessions: 2 });
    const [a, b] = [route(one.port, 'a.example'), route(two.port, 'b.example')];
    await send(p, a, 'first@example.net');
    await send(p, b, 'first@example.net');
    // A burst of 12 on route a, 4 in flight, while b's session sits idle.
    let next = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let i = next++; i < 12; i = next++) await send(p, a, `r${i}@example.net`);
      }),
    );
    await send(p, b, 'last@example.net');
    expect([one.messages.length, two.messages.length]).toEqual([13, 2]);
    // One session each, the whole time: b's idle session was not closed to open a second for a.
    expect([one.connectionCount, two.connectionCount]).toEqual([1, 1]);
    expect(p.stats()).toMatchObject({ connectionsOpened: 2, total: 2 });
  });

  it('at the sandbox cap, a route that holds two more sessions than another gives one up to it', async () => {
    const [one, two] = [await relay(), await relay()];
    const p = pool({ maxOpenSessions: 3 });
    const a = route(one.port, 'a.example', { limits: { maxConnections: 3 } });
    const b = route(two.port, 'b.example', { limits: { maxConnections: 3 } });
    // Route a fills the sandbox: three sessions at once, then idle.
    await Promise.all(['x', 'y', 'z'].map((n) => send(p, a, `${n}@example.net`)));
    expect(p.stats().open).toMatchObject({ [sessionKey(a.settings)]: 3 });
    // Route b has none: it takes one of a's idle sessions' places...
    await send(p, b, 'w@example.net');
    // ...and with two of them busy at once (a holds 2, b 1: not two more), the second waits for b's own.
    await Promise.all([send(p, b, 'v@example.net'), send(p, b, 'u@example.net')]);
    expect(two.connectionCount).toBe(1);
    expect(p.stats().open).toMatchObject({ [sessionKey(a.settings)]: 2, [sessionKey(b.settings)]: 1 });
  });

  it('at the sandbox cap, a route whose only session is still being opened does not queue its other messages behind it', async () => {
    // A relay that greets no one until the test lets it, then refuses (421): opens that may never succeed.
    let letGo: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (letGo = resolve));
    const [one, hung] = [await relay(), await relay({ onConnect: async () => (await gate, { code: 421, message: 'try later' }) })];
    const p = pool({ maxOpenSessions: 3 });
    const b = route(one.port, 'b.example');
    const a = route(hung.port, 'a.example', { limits: { maxConnections: 3 } });
    // Route b leaves two idle sessions; the sandbox has room for one more.
    await Promise.all([send(p, b, 'x@example.net'), send(p, b, 'y@example.net')]);
    const sends = [0, 1, 2].map((i) => send(p, a, `a${i}@example.net`).then(
      () => 'sent',
      () => 'failed',
    ));
    // All three try at once (b's idle sessions give way), instead of each waiting for the one before it to fail.
    await until(() => hung.connectionCount === 3, 'three connections to the hung relay while none has failed');
    letGo();
    expect(await Promise.all(sends)).toEqual(['failed', 'failed', 'failed']);
  });

  it('closes idle sessions on its timer although their route is never used again', async () => {
    const r = await relay();
    const p = pool({ idleTimeoutMs: 200, sweepIntervalMs: 50 });
    await send(p, route(r.port, 'a.example'), 'x@example.net');
    expect(r.openConnections).toBe(1);
    await until(() => r.sessions[0]!.commands.includes('QUIT'), 'the idle session to close');
    expect(p.stats()).toMatchObject({ total: 0, retired: 1 });
  });

  it('an idle session holding a fleet-wide lease gives it back sooner; a per-sandbox one keeps the longer idle time', async () => {
    const r = await relay();
    const memory = new MemoryRelayLimiter();
    // The same rules with the state shared (as on the relay-state table): leases are the fleet's.
    const shared = Object.assign(Object.create(memory) as MemoryRelayLimiter, { shared: true });
    const fleet = pool({ limits: new RelayLimits(shared), idleTimeoutMs: 60_000, leasedIdleTimeoutMs: 200, sweepIntervalMs: 50 });
    const alone = pool({ limits: new RelayLimits(new MemoryRelayLimiter()), idleTimeoutMs: 60_000, leasedIdleTimeoutMs: 200, sweepIntervalMs: 50 });
    await send(alone, route(r.port, 'b.example'), 'y@example.net');
    await send(fleet, route(r.port, 'a.example'), 'x@example.net');
    // Checked at once: the leased session may idle only 200 ms.
    expect(memory.leasesInUse('127.0.0.1:' + r.port)).toBe(1);
    await until(() => fleet.stats().total === 0, 'the leased idle session to close');
    // Its slot goes back once the relay has closed the connection.
    await until(() => memory.leasesInUse('127.0.0.1:' + r.port) === 0, 'the lease to go back');
    await until(() => r.sessions.filter((x) => x.closed).length === 1, 'the relay to see the session close');
    expect(r.sessions.filter((x) => x.commands.includes('QUIT'))).toHaveLength(1);
    expect(alone.stats().total).toBe(1);
  });

  it('a throttle step takes a connection away across the fleet: the sandbox holding the slot above the lowered allowance closes its session', async () => {
    const r = await relay();
    const limiter = new MemoryRelayLimiter();
    const limits = new RelayLimits(limiter);
    const a = pool({ limits, sweepIntervalMs: 50 });
    const b = pool({ limits, sweepIntervalMs: 50 });
    const x = route(r.port, 'a.example', { limits: { maxConnections: 3 } });
    // A holds slots 0 and 1 (two sessions busy at once), then B takes slot 2.
    let releaseA!: () => void;
    const holdA = new Promise<void>((resolve) => (releaseA = resolve));
    const busyA = Promise.all([0, 1].map(() => a.withSession(x, credentials, () => holdA)));
    await until(() => limiter.leasesInUse(`127.0.0.1:${r.port}`) === 2, 'A to hold two slots');
    await send(b, x, 'b@example.net');
    expect(b.stats().total).toBe(1);
    // The relay throttles A: one step for the fleet, the allowance drops to 2 connections.
    await limiter.throttled(`127.0.0.1:${r.port}`);
    releaseA();
    await busyA;
    // B, alone in its sandbox, holds slot 2, which the lowered allowance no longer has: it closes that session.
    await until(() => b.stats().total === 0, 'B to close the session over the allowance');
    await until(() => limiter.leasesInUse(`127.0.0.1:${r.port}`) === 2, 'B to give its slot back');
    expect(a.stats().total).toBe(2);
  });

  it('retires a session older than limits.maxConnectionAgeSeconds before its next message', async () => {
    const r = await relay();
    const p = pool();
    const young = route(r.port, 'a.example', { limits: { maxConnectionAgeSeconds: 3600 } });
    await send(p, young, 'x@example.net');
    await send(p, young, 'y@example.net');
    expect(r.connectionCount).toBe(1);
    // The schema's minimum is 10 s; the pool reads whatever the effective settings say.
    const old = { ...young, settings: { ...young.settings, limits: { ...young.settings.limits, maxConnectionAgeSeconds: 0.1 } } };
    await sleep(150);
    await send(p, old, 'z@example.net');
    expect(r.connectionCount).toBe(2);
    expect(r.messages).toHaveLength(3);
  });

  it('replaces a session the relay closed between messages without failing the message', async () => {
    const first = await relay();
    const p = pool({ idleTimeoutMs: 60_000, sweepIntervalMs: 50 });
    const x = route(first.port, 'a.example');
    await send(p, x, 'x@example.net');
    // The relay restarts on the same port: every open connection is dropped under the pooled session.
    await first.stop();
    const second = await relay({ port: first.port });
    // The pool notices the dead session (its timer retires it) and opens a new one for the next message.
    await until(() => p.stats().total === 0, 'the pool to retire the dead session');
    await send(p, x, 'y@example.net');
    expect(p.stats().retired).toBe(1);
    expect(first.messages.map((m) => m.rcptTo)).toEqual([['x@example.net']]);
    expect(second.messages.map((m) => m.rcptTo)).toEqual([['y@example.net']]);
  });

  it('an idle session of the same relay under another user gives way to a new one: the relay never sees more than maxConnections', async () => {
    const r = await relay({ users: { 'billing@acme.example': PASSWORD, 'other@acme.example': PASSWORD } });
    const p = pool();
    const billing = route(r.port, 'a.example', { limits: { maxConnections: 1 } });
    const other = { ...billing, settings: { ...billing.settings, auth: { ...billing.settings.auth, user: 'other@acme.example' } } };
    await send(p, billing, 'x@example.net');
    await p.withSession(other, () => Promise.resolve({ mechanism: 'PLAIN', user: 'other@acme.example', pass: PASSWORD }), (session) =>
      session.send({ from: 'other@a.example', to: ['y@example.net'] }, Buffer.from('Subject: hi\r\n\r\nhello\r\n')),
    );
    expect(r.messages.map((m) => m.user)).toEqual(['billing@acme.example', 'other@acme.example']);
    expect(r.peakSessions).toBe(1);
    expect(p.stats().total).toBe(1);
  });

  it('two pools sharing one limiter (two sandboxes) never hold more sessions than maxConnections together', async () => {
    const r = await relay();
    const limits = new RelayLimits(new MemoryRelayLimiter(), { maxWaitMs: 30_000 });
    // A sandbox that finished its share gives its sessions (and their leases) back when they idle.
    const a = pool({ limits, idleTimeoutMs: 200, sweepIntervalMs: 50 });
    const b = pool({ limits, idleTimeoutMs: 200, sweepIntervalMs: 50 });
    const x = route(r.port, 'a.example');
    await Promise.all(Array.from({ length: 30 }, (_, i) => send(i % 2 ? a : b, x, `r${i}@example.net`)));
    expect(r.messages).toHaveLength(30);
    expect(r.peakSessions).toBeLessThanOrEqual(2);
  });
});
