/**
 * The core relay against real smtp-server relays on 127.0.0.1 (STARTTLS / implicit TLS / none,
 * real AUTH): every mechanism in every TLS mode, TLS and mechanism enforcement, failure
 * classification and routing by recipient domain.
 */
import { describe, expect, it } from 'vitest';
import type { Keysource } from '../../lambda/core/config/schema.js';
import type { ReadOptions, SecretSource } from '../../lambda/core/ports.js';
import { MessageValidationError } from '../../lambda/core/errors.js';
import { parseQueueMessage } from '../../lambda/core/message/index.js';
import { relayMessage, summarizeRelay, type RelayDependencies } from '../../lambda/core/relay.js';
import type { SmtpRelay, SmtpRelayOptions } from '../../local/smtpRelay.js';
import { MemoryConfigStore, MemorySecretSource } from '../helpers/memoryPorts.js';
import { structuredMessage } from '../helpers/messages.js';
import { relayFixtures } from '../helpers/relayFixtures.js';

// Relays and pools are cleaned up after every test (test/helpers/relayFixtures.ts).
const fixtures = relayFixtures();
const relay = (options: SmtpRelayOptions): Promise<SmtpRelay> => fixtures.relay(options);

function deps(config: MemoryConfigStore, secrets: SecretSource, extra: Partial<RelayDependencies> = {}): RelayDependencies {
  return { config, secrets, pool: fixtures.pool(), ...extra };
}

const globalFor = (r: SmtpRelay, auth: Record<string, unknown>, relayExtra: Record<string, unknown> = {}) =>
  new MemoryConfigStore({ global: { scope: 'global', relay: { host: '127.0.0.1', port: r.port, tls: r.tls, timeoutSeconds: 5, ...relayExtra }, auth } });

describe('each mechanism in each TLS mode', () => {
  const modes = ['starttls', 'implicit', 'none'] as const;
  const mechanisms = ['PLAIN', 'LOGIN', 'XOAUTH2'] as const;
  for (const tls of modes) {
    for (const mechanism of mechanisms) {
      it(`${mechanism} over ${tls}`, async () => {
        // Prepare
        const r = await relay({ tls, authMethods: [mechanism], users: { 'billing@acme.example': 's3cret-pw' } });
        const config = globalFor(r, { type: mechanism, user: 'billing@acme.example', pass: { secret: 'mailrelay/acme' } }, tls === 'none' ? { allowInsecureAuth: true } : {});
        const secrets = new MemorySecretSource({ 'mailrelay/acme': 's3cret-pw' });

        // Act
        const result = await relayMessage(structuredMessage({ to: ['bob@example.net'] }), deps(config, secrets));

        // Assess
        expect(summarizeRelay(result)).toBe('delivered');
        expect(r.messages).toHaveLength(1);
        expect(r.messages[0]!.rcptTo).toEqual(['bob@example.net']);
        expect(r.messages[0]!.authMethod).toBe(mechanism);
        expect(r.messages[0]!.secureAtAuth).toBe(tls !== 'none');
        expect(r.messages[0]!.raw.toString()).toContain('Subject: Hello');
        expect(r.sessions[0]!.heloName).toBe('acme.example');
      });
    }
  }
});

describe('TLS and mechanism enforcement', () => {
  it('a relay without STARTTLS never sees credentials, and the failure is a permanent config error', async () => {
    const r = await relay({ tls: 'none', users: { u: 'p' } });
    const config = globalFor(r, { type: 'PLAIN', user: 'u', pass: { value: 'p' } }, { tls: 'starttls' });
    const result = await relayMessage(structuredMessage({ to: ['bob@example.net'] }), deps(config, new MemorySecretSource()));
    expect(summarizeRelay(result)).toBe('failed');
    expect(result.recipients[0]).toMatchObject({ status: 'failed', reason: 'tls-required' });
    expect(r.commands).not.toContain('AUTH');
    expect(r.commands).not.toContain('MAIL');
    expect(r.messages).toHaveLength(0);
  });

  it('a header-injection attempt is rejected before any connection is opened', async () => {
    const r = await relay({ users: { u: 'p' } });
    const body = JSON.stringify({ from: 'billing@acme.example', to: ['bob@example.net'], subject: 'Hi\r\nBcc: victim@example.org', text: 'x' });
    let caught: unknown;
    try {
      const message = parseQueueMessage(body, { fallbackIdempotencyKey: 'sqs-1' });
      await relayMessage(message, deps(globalFor(r, { user: 'u', pass: { value: 'p' } }), new MemorySecretSource()));
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(MessageValidationError);
    expect((caught as MessageValidationError).issues.map((i) => i.path)).toEqual(['subject']);
    expect(r.connectionCount).toBe(0);
  });

  it('tls none without allowInsecureAuth is refused before connecting', async () => {
    const r = await relay({ tls: 'none', users: { u: 'p' } });
    const config = globalFor(r, { type: 'PLAIN', user: 'u', pass: { value: 'p' } });
    const result = await relayMessage(structuredMessage({ to: ['bob@example.net'] }), deps(config, new MemorySecretSource()));
    expect(result.recipients[0]).toMatchObject({ status: 'failed', reason: 'invalid-config' });
    expect(result.recipients[0]!.detail).toContain('allowInsecureAuth');
    expect(r.connectionCount).toBe(0);
  });

  it('the configured mechanism or nothing: a relay offering only LOGIN gets no AUTH PLAIN', async () => {
    const r = await relay({ authMethods: ['LOGIN'], users: { u: 'p' } });
    const config = globalFor(r, { type: 'PLAIN', user: 'u', pass: { value: 'p' } });
    const result = await relayMessage(structuredMessage({ to: ['bob@example.net'] }), deps(config, new MemorySecretSource()));
    expect(result.recipients[0]).toMatchObject({ status: 'failed', reason: 'auth-mechanism-unavailable' });
    expect(result.recipients[0]!.detail).toContain('offers LOGIN');
    expect(r.commands).not.toContain('AUTH');
  });

  it('a certificate for another host fails verification (transient: the operator or the relay must fix it)', async () => {
    const r = await relay({ cert: 'wrong-host', users: { u: 'p' } });
    const config = new MemoryConfigStore({ global: { scope: 'global', relay: { host: 'localhost', port: r.port, timeoutSeconds: 5 }, auth: { user: 'u', pass: { value: 'p' } } } });
    const result = await relayMessage(structuredMessage({ to: ['bob@example.net'] }), deps(config, new MemorySecretSource()));
    expect(result.recipients[0]).toMatchObject({ status: 'deferred', reason: 'connection' });
    expect(r.commands).not.toContain('AUTH');
  });

  it('verifyCertificate false accepts it', async () => {
    const r = await relay({ cert: 'wrong-host', users: { u: 'p' } });
    const config = new MemoryConfigStore({
      global: { scope: 'global', relay: { host: 'localhost', port: r.port, timeoutSeconds: 5, verifyCertificate: false }, auth: { user: 'u', pass: { value: 'p' } } },
    });
    const result = await relayMessage(structuredMessage({ to: ['bob@example.net'] }), deps(config, new MemorySecretSource()));
    expect(summarizeRelay(result)).toBe('delivered');
  });

  it('a message larger than the SIZE the relay announces fails permanently before DATA', async () => {
    const r = await relay({ size: 1000, users: { u: 'p' } });
    const config = globalFor(r, { user: 'u', pass: { value: 'p' } });
    const result = await relayMessage(structuredMessage({ to: ['bob@example.net'], text: 'x'.repeat(5000) }), deps(config, new MemorySecretSource()));
    expect(result.recipients[0]).toMatchObject({ status: 'failed', reason: 'message-too-large' });
    expect(r.commands).not.toContain('DATA');
  });
});

/** A secret source with a cache, as the AWS adapters have: only forceRefresh sees a rotation. */
class CachingSecretSource implements SecretSource {
  public readonly reads: boolean[] = [];
  private cached: string | undefined;
  public constructor(public current: string) {}
  public async read(_ref: Keysource, options?: ReadOptions): Promise<string> {
    this.reads.push(options?.forceRefresh ?? false);
    if (options?.forceRefresh || this.cached === undefined) this.cached = this.current;
    return this.cached;
  }
}

describe('authentication failures', () => {
  it('535 after a rotation: one forced refresh, then delivered', async () => {
    const r = await relay({ users: { u: 'old' } });
    const secrets = new CachingSecretSource('old');
    const d = deps(globalFor(r, { user: 'u', pass: { secret: 'mailrelay/u' } }), secrets);
    expect(summarizeRelay(await relayMessage(structuredMessage({ to: ['a@example.net'] }), d))).toBe('delivered');
    d.pool.closeIdle();

    r.setPassword('u', 'new');
    secrets.current = 'new';
    const result = await relayMessage(structuredMessage({ to: ['b@example.net'] }), d);

    expect(summarizeRelay(result)).toBe('delivered');
    expect(result.attempts[0]!.authRetried).toBe(true);
    expect(secrets.reads).toEqual([false, false, true]);
    expect(r.authAttempts.map((a) => a.credentialsValid)).toEqual([true, false, true]);
  });

  it('wrong password: 535 is transient, the refresh hook is called exactly once', async () => {
    const r = await relay({ users: { u: 'right' } });
    const secrets = new CachingSecretSource('wrong');
    const result = await relayMessage(structuredMessage({ to: ['a@example.net'] }), deps(globalFor(r, { user: 'u', pass: { secret: 'mailrelay/u' } }), secrets));
    expect(result.recipients[0]).toMatchObject({ status: 'deferred', reason: 'auth-failed', responseCode: 535 });
    expect(secrets.reads.filter(Boolean)).toHaveLength(1);
    expect(r.messages).toHaveLength(0);
  });

  it('XOAUTH2: the 334 error challenge renews the token once and delivers', async () => {
    let valid = 'token-2';
    const r = await relay({ authMethods: ['XOAUTH2'], xoauth2: (_user, token) => token === valid });
    const requests: boolean[] = [];
    let n = 0;
    const tokens = {
      async getAccessToken(_client: unknown, _user: string, options?: ReadOptions) {
        requests.push(options?.forceRefresh ?? false);
        n += 1;
        return `token-${n}`;
      },
    };
    const config = globalFor(r, {
      type: 'XOAUTH2',
      user: 'box@acme.example',
      oauth2: { tokenUrl: 'http://127.0.0.1:9/token', allowLoopbackHttp: true, clientId: 'c', clientSecret: { value: 's' }, scope: 'https://outlook.office365.com/.default' },
    });
    const result = await relayMessage(structuredMessage({ to: ['a@example.net'] }), deps(config, new MemorySecretSource(), { tokens }));
    expect(summarizeRelay(result)).toBe('delivered');
    expect(requests).toEqual([false, true]);
    expect(r.commands.filter((c) => c === 'AUTH')).toHaveLength(2);
    valid = 'never';
  });

  it('XOAUTH2: a bare 535 (no 334 challenge) gets one attempt with a forced token refresh', async () => {
    const r = await relay({
      authMethods: ['XOAUTH2'],
      xoauth2: (_user, token) => token === 'fresh',
      // Answer a stale token with 535 at once, as some relays do, instead of the error challenge.
      onAuth: (attempt) => (attempt.credentialsValid ? undefined : { code: 535, message: '5.7.3 Authentication unsuccessful' }),
    });
    const requests: boolean[] = [];
    const tokens = {
      async getAccessToken(_client: unknown, _user: string, options?: ReadOptions) {
        requests.push(options?.forceRefresh ?? false);
        return options?.forceRefresh ? 'fresh' : 'stale';
      },
    };
    const config = globalFor(r, { type: 'XOAUTH2', user: 'box@acme.example', oauth2: { tokenUrl: 'http://127.0.0.1:9/token', allowLoopbackHttp: true, clientId: 'c', scope: 's' } });
    const result = await relayMessage(structuredMessage({ to: ['a@example.net'] }), deps(config, new MemorySecretSource(), { tokens }));
    expect(summarizeRelay(result)).toBe('delivered');
    expect(requests).toEqual([false, true]);
    expect(result.attempts[0]!.authRetried).toBe(true);
  });

  it('XOAUTH2: a token the relay still refuses after renewal defers the message', async () => {
    const r = await relay({ authMethods: ['XOAUTH2'], xoauth2: () => false });
    const secrets = new MemorySecretSource({ 'mailrelay/token': 'bearer' });
    const result = await relayMessage(
      structuredMessage({ to: ['a@example.net'] }),
      deps(globalFor(r, { type: 'XOAUTH2', user: 'box@acme.example', pass: { secret: 'mailrelay/token' } }), secrets),
    );
    expect(result.recipients[0]).toMatchObject({ status: 'deferred', reason: 'auth-failed', responseCode: 535 });
    expect(secrets.calls.map((c) => c.forceRefresh)).toEqual([false, true]);
  });
});

describe('reply classification', () => {
  const cases: { name: string; options: SmtpRelayOptions; status: string; reason: string; code?: number }[] = [
    { name: '421 at greeting', options: { onConnect: () => ({ code: 421, message: 'too busy' }) }, status: 'deferred', reason: 'relay-unavailable', code: 421 },
    { name: '451 at RCPT', options: { onRcptTo: () => ({ code: 451, message: '4.3.0 try later' }) }, status: 'deferred', reason: 'smtp-transient', code: 451 },
    { name: '550 at RCPT', options: { onRcptTo: () => ({ code: 550, message: '5.1.1 no such user' }) }, status: 'failed', reason: 'unknown-recipient', code: 550 },
    { name: '451 after DATA', options: { onData: () => ({ code: 451, message: '4.7.1 greylisted' }) }, status: 'deferred', reason: 'smtp-transient', code: 451 },
    { name: '554 after DATA', options: { onData: () => ({ code: 554, message: '5.7.1 spam' }) }, status: 'failed', reason: 'policy-refused', code: 554 },
    { name: '421 at MAIL FROM', options: { onMailFrom: () => ({ code: 421, message: 'closing' }) }, status: 'deferred', reason: 'relay-unavailable', code: 421 },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const r = await relay({ ...c.options, users: { u: 'p' } });
      const result = await relayMessage(structuredMessage({ to: ['a@example.net'] }), deps(globalFor(r, { user: 'u', pass: { value: 'p' } }), new MemorySecretSource()));
      expect(result.recipients[0]).toMatchObject({ status: c.status, reason: c.reason, responseCode: c.code });
      expect(result.recipients[0]!.response).toMatch(new RegExp(`^${c.code}`));
    });
  }

  it('one of three recipients rejected with 5xx: the other two are delivered in one transaction', async () => {
    const r = await relay({ users: { u: 'p' }, onRcptTo: (a) => (a.startsWith('bad') ? { code: 550, message: 'no such user' } : undefined) });
    const result = await relayMessage(
      structuredMessage({ to: ['a@example.net', 'bad@example.net', 'c@example.net'] }),
      deps(globalFor(r, { user: 'u', pass: { value: 'p' } }), new MemorySecretSource()),
    );
    expect(result.recipients.map((x) => [x.address, x.status])).toEqual([
      ['a@example.net', 'delivered'],
      ['bad@example.net', 'failed'],
      ['c@example.net', 'delivered'],
    ]);
    expect(r.messages).toHaveLength(1);
    expect(r.messages[0]!.rcptTo).toEqual(['a@example.net', 'c@example.net']);
  });

  it('connection refused is transient', async () => {
    const r = await relay({});
    const port = r.port;
    await r.stop();
    const config = new MemoryConfigStore({ global: { scope: 'global', relay: { host: '127.0.0.1', port, timeoutSeconds: 2 } } });
    const result = await relayMessage(structuredMessage({ to: ['a@example.net'] }), deps(config, new MemorySecretSource()));
    expect(result.recipients[0]).toMatchObject({ status: 'deferred', reason: 'connection' });
  });
});

describe('routing', () => {
  it('recipients in two domains with different relays arrive at the right servers with the right credentials', async () => {
    const a = await relay({ authMethods: ['PLAIN'], users: { 'user-a': 'pw-a' } });
    const b = await relay({ tls: 'implicit', authMethods: ['LOGIN'], users: { 'user-b': 'pw-b' } });
    const config = new MemoryConfigStore({
      global: { scope: 'global', relay: { host: '127.0.0.1', port: a.port, timeoutSeconds: 5 }, auth: { type: 'PLAIN', user: 'user-a', pass: { secret: 'mailrelay/a' } } },
      'domain#b.example': { scope: 'domain#b.example', relay: { port: b.port, tls: 'implicit' }, auth: { type: 'LOGIN', user: 'user-b', pass: { secret: 'mailrelay/b', field: 'pw' } } },
    });
    const secrets = new MemorySecretSource({ 'mailrelay/a': 'pw-a', 'mailrelay/b': JSON.stringify({ pw: 'pw-b' }) });

    const result = await relayMessage(structuredMessage({ to: ['x@a.example', 'y@b.example', 'z@a.example'] }), deps(config, secrets));

    expect(summarizeRelay(result)).toBe('delivered');
    expect(a.messages.map((m) => [m.rcptTo, m.user, m.authMethod])).toEqual([[['x@a.example', 'z@a.example'], 'user-a', 'PLAIN']]);
    expect(b.messages.map((m) => [m.rcptTo, m.user, m.authMethod])).toEqual([[['y@b.example'], 'user-b', 'LOGIN']]);
    // The same bytes (same Message-ID) go to both relays.
    expect(a.messages[0]!.raw.toString()).toContain('Message-ID: <test-key@acme.example>');
    expect(b.messages[0]!.raw.toString()).toContain('Message-ID: <test-key@acme.example>');
  });

  it('recipients already settled are not sent again', async () => {
    const r = await relay({ users: { u: 'p' } });
    const result = await relayMessage(structuredMessage({ to: ['a@example.net', 'b@example.net'] }), deps(globalFor(r, { user: 'u', pass: { value: 'p' } }), new MemorySecretSource()), {
      skip: new Set(['a@example.net']),
    });
    expect(result.recipients.map((x) => x.address)).toEqual(['b@example.net']);
    expect(r.messages[0]!.rcptTo).toEqual(['b@example.net']);
  });

  it('pooled: ten messages on one route reuse one connection and authenticate once', async () => {
    const r = await relay({ users: { u: 'p' } });
    const d = deps(globalFor(r, { user: 'u', pass: { value: 'p' } }), new MemorySecretSource());
    for (let i = 0; i < 10; i++) {
      expect(summarizeRelay(await relayMessage(structuredMessage({ to: [`r${i}@example.net`] }), d))).toBe('delivered');
    }
    expect(r.messages).toHaveLength(10);
    expect(r.connectionCount).toBe(1);
    expect(r.authAttempts).toHaveLength(1);
  });
});

