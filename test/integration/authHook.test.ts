/**
 * The per-message auth hook (docs/design.md §2) against a real smtp-server relay on 127.0.0.1
 * with two users, STARTTLS and real AUTH: a module hook and a function hook (through the real
 * Lambda client and the local Invoke stand-in) that answer different credentials per `auth.key`.
 */
import { LambdaClient } from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LambdaAuthHookInvoker } from '../../lambda/adapters/lambdaAuthHookInvoker.js';
import { AuthHookRunner, type AuthHookContext, type OutboundSmtpAuthConfig } from '../../lambda/core/authHook/index.js';
import { relayMessage, summarizeRelay, type RelayDependencies } from '../../lambda/core/relay.js';
import type { SmtpPool } from '../../lambda/core/smtp/pool.js';
import { processRecord, type WorkerDependencies } from '../../lambda/worker/processRecord.js';
import { startLambdaEndpoint, type LambdaEndpoint } from '../../local/lambdaEndpoint.js';
import { startSmtpRelay, type SmtpRelay } from '../../local/smtpRelay.js';
import { MemoryConfigStore, MemoryDeadLetterQueue, MemoryIdempotencyStore, MemorySecretSource } from '../helpers/memoryPorts.js';
import { structuredMessage } from '../helpers/messages.js';
import { relayFixtures } from '../helpers/relayFixtures.js';

const TENANTS: Record<string, { user: string; pass: string }> = {
  'tenant-a': { user: 'a@tenants.example', pass: 'pass-of-tenant-a' },
  'tenant-b': { user: 'b@tenants.example', pass: 'pass-of-tenant-b' },
};
const BODY_TEXT = 'the body only the relay may read';
const SUBJECT = 'Invoice 42';

let relay: SmtpRelay;
let lambda: LambdaEndpoint;
let lambdaClient: LambdaClient;

beforeAll(async () => {
  relay = await startSmtpRelay({ users: Object.fromEntries(Object.values(TENANTS).map((t) => [t.user, t.pass])) });
  lambda = await startLambdaEndpoint();
  lambdaClient = new LambdaClient({ endpoint: lambda.url, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 });
});
afterAll(async () => {
  lambdaClient.destroy();
  await Promise.all([relay.stop(), lambda.stop()]);
});
beforeEach(() => relay.clear());
// One relay for the file (above); each test's pools are closed after it (test/helpers/relayFixtures.ts).
const fixtures = relayFixtures();

/** The relay and the mechanism are configured; the credentials are the hook's business. */
const config = (auth: Record<string, unknown> = { type: 'PLAIN' }) =>
  new MemoryConfigStore({ global: { scope: 'global', relay: { host: '127.0.0.1', port: relay.port, tls: 'starttls', timeoutSeconds: 5 }, auth } });

function deps(runner: AuthHookRunner, store = config(), secrets = new MemorySecretSource()): RelayDependencies & { pool: SmtpPool } {
  return { config: store, secrets, pool: fixtures.pool(), authHook: runner };
}

const message = (tenant: string, key: string) =>
  structuredMessage({ to: [`someone@partner.example`], auth: { key: tenant }, idempotencyKey: key, subject: SUBJECT, text: BODY_TEXT });

/** Answers with the tenant's user and its password as a literal secret. */
const moduleHook = (seen: AuthHookContext[]): OutboundSmtpAuthConfig => (context) => {
  seen.push(context);
  const tenant = TENANTS[context.auth.key ?? ''];
  return tenant ? { user: tenant.user, pass: tenant.pass } : undefined;
};

describe('module hook', () => {
  it('two tenants on one relay authenticate as their own users, on separate sessions; the answer is cached per auth.key', async () => {
    // Prepare
    const seen: AuthHookContext[] = [];
    const runner = new AuthHookRunner({ module: moduleHook(seen) });
    const d = deps(runner);

    // Act: a, b, a again (sequentially, so the pool has an idle session to offer)
    const results = [];
    for (const [tenant, key] of [['tenant-a', 'm1'], ['tenant-b', 'm2'], ['tenant-a', 'm3']] as const) results.push(await relayMessage(message(tenant, key), d));

    // Assess
    expect(results.map(summarizeRelay)).toEqual(['delivered', 'delivered', 'delivered']);
    expect(relay.messages.map((m) => m.user)).toEqual(['a@tenants.example', 'b@tenants.example', 'a@tenants.example']);
    const [first, second, third] = relay.messages;
    expect(second!.sessionId).not.toBe(first!.sessionId);
    // Tenant a's second message reused tenant a's session, never tenant b's.
    expect(third!.sessionId).toBe(first!.sessionId);
    expect(relay.authAttempts.map((a) => [a.username, a.success])).toEqual([
      ['a@tenants.example', true],
      ['b@tenants.example', true],
    ]);
    expect(Object.keys(d.pool.stats().open)).toHaveLength(2);
    // The pool keys tell the tenants apart by user and fingerprint, never by the secret itself.
    for (const key of Object.keys(d.pool.stats().open)) expect(key).not.toMatch(/pass-of-tenant/);
    expect(seen.map((c) => c.auth.key)).toEqual(['tenant-a', 'tenant-b']);
    expect(runner.stats()).toMatchObject({ calls: 2, cacheHits: 1 });
    expect(results[0]!.attempts[0]!.route).toContain('user=a@tenants.example');
  });

  it('messages whose routes differ only in what the hook answered never share a session', async () => {
    // No auth.key, no cache: the routes are the same before the hook; the hook decides by binding.
    const byBinding: Record<string, string> = { 'tenant-a.example': 'tenant-a', 'tenant-b.example': 'tenant-b' };
    const runner = new AuthHookRunner({ cacheTtlMs: 0, module: (c) => TENANTS[byBinding[c.binding]!]! });
    const d = deps(runner);
    const send = (binding: string, key: string) => relayMessage(structuredMessage({ to: ['someone@partner.example'], binding, idempotencyKey: key }), d);

    for (const [binding, key] of [['tenant-a.example', 'b1'], ['tenant-b.example', 'b2'], ['tenant-a.example', 'b3']] as const) expect(summarizeRelay(await send(binding, key))).toBe('delivered');

    expect(relay.messages.map((m) => m.user)).toEqual(['a@tenants.example', 'b@tenants.example', 'a@tenants.example']);
    expect(relay.messages[1]!.sessionId).not.toBe(relay.messages[0]!.sessionId);
    expect(relay.messages[2]!.sessionId).toBe(relay.messages[0]!.sessionId);
  });

  it('one user, two passwords: separate sessions (the fingerprint is in the pool key)', async () => {
    relay.setPassword('shared@tenants.example', 'first-secret');
    const answers: Record<string, string> = { 'tenant-a.example': 'first-secret', 'tenant-b.example': 'wrong-secret' };
    const runner = new AuthHookRunner({ cacheTtlMs: 0, module: (c) => ({ user: 'shared@tenants.example', pass: answers[c.binding]! }) });
    const d = deps(runner);
    const send = (binding: string, key: string) => relayMessage(structuredMessage({ to: ['someone@partner.example'], binding, idempotencyKey: key }), d);

    const a = await send('tenant-a.example', 'p1');
    const b = await send('tenant-b.example', 'p2');

    expect(summarizeRelay(a)).toBe('delivered');
    // Had b reused a's logged-in session, it would have been delivered with a's credentials.
    expect(b.recipients[0]).toMatchObject({ status: 'deferred', reason: 'auth-failed' });
    expect(relay.messages).toHaveLength(1);
    relay.removeUser('shared@tenants.example');
  });

  it('the hook sees the metadata and references, never the body, the subject or a secret', async () => {
    const seen: AuthHookContext[] = [];
    const store = config({ type: 'PLAIN', user: 'configured@tenants.example', pass: { value: 'inline-config-secret' } });
    await relayMessage(message('tenant-b', 'm-ctx'), deps(new AuthHookRunner({ module: moduleHook(seen) }), store));

    expect(seen).toHaveLength(1);
    const context = seen[0]!;
    expect(Object.keys(context).sort()).toEqual(['auth', 'binding', 'from', 'idempotencyKey', 'recipientDomain', 'recipientDomains', 'route', 'tags']);
    expect(context).toMatchObject({
      from: 'billing@acme.example',
      recipientDomain: 'partner.example',
      binding: 'acme.example',
      idempotencyKey: 'm-ctx',
      route: { host: '127.0.0.1', port: relay.port, tls: 'starttls' },
      auth: { type: 'PLAIN', user: 'configured@tenants.example', key: 'tenant-b', pass: { value: '(inline value hidden)' } },
    });
    const json = JSON.stringify(context);
    for (const secret of [BODY_TEXT, SUBJECT, 'inline-config-secret']) expect(json).not.toContain(secret);
    // The hook's fields override the configured user.
    expect(relay.messages[0]!.user).toBe('b@tenants.example');
  });

  it('a slow hook defers the message without connecting; the next attempt delivers', async () => {
    let slow = true;
    const runner = new AuthHookRunner({
      timeoutMs: 50,
      module: async (context, { signal }) => {
        if (slow) await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
        return { user: TENANTS[context.auth.key!]!.user, pass: TENANTS[context.auth.key!]!.pass };
      },
    });
    const d = deps(runner);

    const first = await relayMessage(message('tenant-a', 'slow'), d);
    expect(first.recipients[0]).toMatchObject({ status: 'deferred', reason: 'auth-hook-failed' });
    expect(first.recipients[0]!.detail).toContain('did not answer within 50 ms');
    expect(relay.connectionCount).toBe(0);

    slow = false;
    const second = await relayMessage(message('tenant-a', 'slow'), d);
    expect(summarizeRelay(second)).toBe('delivered');
    expect(relay.messages[0]!.user).toBe('a@tenants.example');
  });

  it('a failing hook defers the message and never sends it unauthenticated', async () => {
    // A relay that would take mail without AUTH: a send without the hook's credentials would go through.
    const open = await startSmtpRelay({ users: { 'a@tenants.example': 'pass-of-tenant-a' }, authOptional: true });
    try {
      const store = new MemoryConfigStore({ global: { scope: 'global', relay: { host: '127.0.0.1', port: open.port, timeoutSeconds: 5 } } });
      const runner = new AuthHookRunner({
        module: () => {
          throw new Error('tenant database unreachable');
        },
      });
      const result = await relayMessage(message('tenant-a', 'fail'), deps(runner, store));
      expect(result.recipients[0]).toMatchObject({ status: 'deferred', reason: 'auth-hook-failed' });
      expect(result.recipients[0]!.detail).toContain('tenant database unreachable');
      expect(open.connectionCount).toBe(0);
      expect(open.messages).toHaveLength(0);
      expect(runner.stats().failures).toBe(1);
    } finally {
      await open.stop();
    }
  });

  it('a malformed answer fails the message as a configuration error naming the field', async () => {
    const runner = new AuthHookRunner({ module: () => ({ user: 'a@tenants.example', pass: 42 }) as never });
    const result = await relayMessage(message('tenant-a', 'bad'), deps(runner));
    expect(result.recipients[0]).toMatchObject({ status: 'failed', reason: 'config-error' });
    expect(result.recipients[0]!.detail).toContain('hook.pass');
    expect(relay.connectionCount).toBe(0);
  });

  it('answering nothing leaves the configured auth in place', async () => {
    const store = config({ type: 'PLAIN', user: 'a@tenants.example', pass: { value: 'pass-of-tenant-a' } });
    const runner = new AuthHookRunner({ module: () => undefined });
    const result = await relayMessage(message('tenant-unknown', 'none'), deps(runner, store));
    expect(summarizeRelay(result)).toBe('delivered');
    expect(relay.messages[0]!.user).toBe('a@tenants.example');
  });
});

describe('function hook (auth.hookFunction, through the Lambda client)', () => {
  const invoker = () => new LambdaAuthHookInvoker(lambdaClient);

  it('two tenants, one as a literal secret and one as a keysource, on separate sessions; the payload carries no body', async () => {
    lambda.setFunction('tenant-auth', (payload) => {
      const context = payload as AuthHookContext;
      if (context.auth.key === 'tenant-a') return { user: TENANTS['tenant-a']!.user, pass: TENANTS['tenant-a']!.pass };
      if (context.auth.key === 'tenant-b') return { type: 'LOGIN', user: TENANTS['tenant-b']!.user, pass: { secret: 'mailrelay/tenants/b' } };
      return null;
    });
    const store = config({ type: 'PLAIN', hookFunction: 'arn:aws:lambda:us-east-1:123456789012:function:tenant-auth' });
    const secrets = new MemorySecretSource({ 'mailrelay/tenants/b': TENANTS['tenant-b']!.pass });
    const d = deps(new AuthHookRunner({ invoker: invoker() }), store, secrets);
    const before = lambda.invocations.length;

    const a = await relayMessage(message('tenant-a', 'f1'), d);
    const b = await relayMessage(message('tenant-b', 'f2'), d);

    expect([summarizeRelay(a), summarizeRelay(b)]).toEqual(['delivered', 'delivered']);
    expect(relay.messages.map((m) => [m.user, m.authMethod])).toEqual([
      ['a@tenants.example', 'PLAIN'],
      ['b@tenants.example', 'LOGIN'],
    ]);
    expect(relay.messages[0]!.sessionId).not.toBe(relay.messages[1]!.sessionId);
    const calls = lambda.invocations.slice(before);
    expect(calls.map((c) => [c.functionName, c.outcome])).toEqual([
      ['arn:aws:lambda:us-east-1:123456789012:function:tenant-auth', 'ok'],
      ['arn:aws:lambda:us-east-1:123456789012:function:tenant-auth', 'ok'],
    ]);
    for (const call of calls) {
      expect(call.raw).not.toContain(BODY_TEXT);
      expect(call.raw).not.toContain(SUBJECT);
    }
    expect((calls[1]!.payload as AuthHookContext).auth.key).toBe('tenant-b');
  });

  it('a throttled, raising or missing function defers the message; nothing is sent', async () => {
    lambda.setFunction('raises', () => {
      throw new TypeError('cannot read the tenant table');
    });
    const cases = [
      { fn: 'tenant-auth', throttle: true, detail: 'Rate exceeded' },
      { fn: 'raises', throttle: false, detail: 'TypeError: cannot read the tenant table' },
      { fn: 'no-such-function', throttle: false, detail: 'Function not found' },
    ];
    for (const c of cases) {
      if (c.throttle) lambda.throttleNext(1);
      const d = deps(new AuthHookRunner({ invoker: invoker() }), config({ type: 'PLAIN', hookFunction: c.fn }));
      const result = await relayMessage(message('tenant-a', `t-${c.fn}`), d);
      expect(result.recipients[0], c.fn).toMatchObject({ status: 'deferred', reason: 'auth-hook-failed' });
      expect(result.recipients[0]!.detail).toContain(c.detail);
    }
    expect(relay.connectionCount).toBe(0);
  });

  it('a function registered by its ARN (npm start -- --auth-hook-function ARN=FILE) answers a config naming it by ARN or by name', async () => {
    const arn = 'arn:aws:lambda:us-east-1:123456789012:function:arn-registered';
    const own = await startLambdaEndpoint({ functions: { [arn]: () => ({ user: TENANTS['tenant-a']!.user, pass: TENANTS['tenant-a']!.pass }) } });
    const client = new LambdaClient({ endpoint: own.url, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 });
    try {
      for (const hookFunction of [arn, 'arn-registered', `${arn}:$LATEST`]) {
        const d = deps(new AuthHookRunner({ invoker: new LambdaAuthHookInvoker(client) }), config({ type: 'PLAIN', hookFunction }));
        const result = await relayMessage(message('tenant-a', `arn-${hookFunction}`), d);
        expect(summarizeRelay(result), `${hookFunction}: ${result.recipients[0]!.detail}`).toBe('delivered');
      }
      expect(own.invocations.map((c) => c.outcome)).toEqual(['ok', 'ok', 'ok']);
    } finally {
      client.destroy();
      await own.stop();
    }
  });

  it('a malformed answer from the function names the field', async () => {
    lambda.setFunction('malformed', () => ({ user: 'a@tenants.example', pass: { secret: 'mailrelay/x', extra: true } }));
    const d = deps(new AuthHookRunner({ invoker: invoker() }), config({ type: 'PLAIN', hookFunction: 'malformed' }));
    const result = await relayMessage(message('tenant-a', 'mf'), d);
    expect(result.recipients[0]).toMatchObject({ status: 'failed', reason: 'config-error' });
    expect(result.recipients[0]!.detail).toContain('hook.pass');
  });
});

describe('in the worker', () => {
  it('a malformed answer dead-letters the message naming the field; the hook\'s literal secret is in no log line and not in the DLQ', async () => {
    const logs: string[] = [];
    const log = (message: string, ...extra: unknown[]) => logs.push(`${message} ${JSON.stringify(extra)}`);
    const dlq = new MemoryDeadLetterQueue();
    let malformed = false;
    const runner = new AuthHookRunner({
      module: (context) => (malformed ? { user: 'a@tenants.example', pass: '' } : { user: TENANTS[context.auth.key!]!.user, pass: TENANTS[context.auth.key!]!.pass }),
    });
    const workerDeps: WorkerDependencies = {
      ...deps(runner),
      idempotency: new MemoryIdempotencyStore(),
      deadLetters: dlq,
      logger: { debug: log, info: log, warn: log, error: log },
      metrics: { addMetric: () => undefined },
      maxReceiveCount: 3,
      claimLeaseMs: 60_000,
    };
    const record = (key: string) => ({
      messageId: `sqs-${key}`,
      receiptHandle: 'rh',
      body: JSON.stringify({ idempotencyKey: key, from: 'billing@acme.example', to: ['someone@partner.example'], subject: SUBJECT, text: BODY_TEXT, auth: { key: 'tenant-a' } }),
      attributes: { ApproximateReceiveCount: '1' },
    });

    expect(await processRecord(record('w1'), workerDeps)).toBe('delivered');
    malformed = true;
    // A different route: the cached answer does not apply (another auth.key).
    const other = { ...record('w2'), body: record('w2').body.replace('"tenant-a"', '"tenant-c"') };
    expect(await processRecord(other, workerDeps)).toBe('dead-lettered');

    expect(dlq.entries).toHaveLength(1);
    expect(dlq.entries[0]!.reason.reason).toBe('config-error');
    expect(dlq.entries[0]!.reason.detail).toContain('hook.pass');
    const everything = JSON.stringify(dlq.entries) + logs.join('\n');
    for (const secret of Object.values(TENANTS).map((t) => t.pass)) expect(everything).not.toContain(secret);
    expect(logs.join('\n')).toContain('hook.pass');
  });
});
