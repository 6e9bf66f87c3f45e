/**
 * XOAUTH2 end to end: a local OAuth2 token endpoint on 127.0.0.1, an smtp-server relay that
 * accepts only tokens the endpoint currently considers valid, the real token provider and the
 * worker's record processing.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { resolveKeysource } from '../../lambda/core/keysources.js';
import { createOAuth2TokenProvider } from '../../lambda/core/oauth/index.js';
import { relayMessage, summarizeRelay } from '../../lambda/core/relay.js';
import { SmtpPool } from '../../lambda/core/smtp/pool.js';
import { processRecord, type WorkerDependencies } from '../../lambda/worker/processRecord.js';
import { testCerts } from '../../local/certs.js';
import { startOAuthTokenEndpoint, type OAuthTokenEndpoint } from '../../local/oauthTokenEndpoint.js';
import { startSmtpRelay, type SmtpRelay } from '../../local/smtpRelay.js';
import { MemoryConfigStore, MemoryDeadLetterQueue, MemoryIdempotencyStore, MemorySecretSource } from '../helpers/memoryPorts.js';
import { structuredMessage } from '../helpers/messages.js';

const CLIENT_SECRET = 'client-secret-9f8e7d6c5b';
let endpoint: OAuthTokenEndpoint;
let relay: SmtpRelay;
let deps: WorkerDependencies;
let dlq: MemoryDeadLetterQueue;
let pool: SmtpPool;
const logLines: string[] = [];

beforeAll(async () => {
  endpoint = await startOAuthTokenEndpoint({ clients: { 'mailrelay-app': CLIENT_SECRET }, expiresInSeconds: 3600 });
  relay = await startSmtpRelay({ authMethods: ['XOAUTH2'], xoauth2: (user, token) => user === 'box@contoso.example' && endpoint.isValid(token) });
});
afterAll(async () => {
  pool?.closeIdle();
  await relay.stop();
  await endpoint.stop();
});
beforeEach(() => {
  pool?.closeIdle();
  relay.clear();
  endpoint.revokeAll();
  logLines.length = 0;
  const secrets = new MemorySecretSource({ 'mailrelay/m365': JSON.stringify({ clientSecret: CLIENT_SECRET }) });
  pool = new SmtpPool({ ca: testCerts.ca });
  dlq = new MemoryDeadLetterQueue();
  const log = (message: string, ...extra: Record<string, unknown>[]) => logLines.push(JSON.stringify({ message, ...Object.assign({}, ...extra) }));
  deps = {
    config: new MemoryConfigStore({
      global: {
        scope: 'global',
        relay: { host: '127.0.0.1', port: relay.port, timeoutSeconds: 5 },
        auth: {
          type: 'XOAUTH2',
          user: 'box@contoso.example',
          oauth2: { tokenUrl: `${endpoint.url}`, allowLoopbackHttp: true, clientId: 'mailrelay-app', clientSecret: { secret: 'mailrelay/m365', field: 'clientSecret' }, scope: 'https://outlook.office365.com/.default' },
        },
      },
    }),
    secrets,
    tokens: createOAuth2TokenProvider({ resolveSecret: async (ref, options) => (await resolveKeysource(ref, secrets, options)).secret }),
    pool,
    idempotency: new MemoryIdempotencyStore(),
    deadLetters: dlq,
    logger: { debug: log, info: log, warn: log, error: log },
    metrics: { addMetric: () => undefined },
    maxReceiveCount: 5,
    claimLeaseMs: 60_000,
  };
});

describe('XOAUTH2 with tokens from an OAuth2 client', () => {
  it('the first delivery fetches a token; the relay accepts it', async () => {
    const before = endpoint.requestCount;
    const result = await relayMessage(structuredMessage({ to: ['a@example.net'] }), deps);
    expect(summarizeRelay(result)).toBe('delivered');
    expect(endpoint.requestCount - before).toBe(1);
    expect(relay.messages[0]).toMatchObject({ authMethod: 'XOAUTH2', user: 'box@contoso.example' });
  });

  it('50 concurrent deliveries cause one token request', async () => {
    const before = endpoint.requestCount;
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => relayMessage(structuredMessage({ to: [`r${i}@example.net`] }), deps)));
    expect(results.map(summarizeRelay)).toEqual(Array(50).fill('delivered'));
    expect(endpoint.requestCount - before).toBe(1);
    expect(relay.connectionCount).toBeLessThanOrEqual(4);
  });

  it('a revoked token triggers exactly one renewal and the message is delivered', async () => {
    const before = endpoint.requestCount;
    await relayMessage(structuredMessage({ to: ['a@example.net'] }), deps);
    pool.closeIdle();
    endpoint.revokeAll();
    const result = await relayMessage(structuredMessage({ to: ['b@example.net'] }), deps);
    expect(summarizeRelay(result)).toBe('delivered');
    expect(endpoint.requestCount - before).toBe(2);
    expect(relay.authAttempts.map((a) => a.credentialsValid)).toEqual([true, false, true]);
  });

  it('invalid_client ends in the DLQ with the endpoint’s reason, and no secret or token is logged', async () => {
    await relayMessage(structuredMessage({ to: ['warm@example.net'] }), deps);
    const issued = relay.authAttempts.length;
    pool.closeIdle();
    endpoint.revokeAll();
    endpoint.setClientSecret('mailrelay-app', 'a-rotated-secret-nobody-has');
    const body = JSON.stringify({ idempotencyKey: 'oauth-1', from: 'billing@contoso.example', to: ['c@example.net'], subject: 's', text: 't' });

    const outcome = await processRecord({ messageId: 'm1', receiptHandle: 'r', body, attributes: { ApproximateReceiveCount: '1' } }, deps);

    expect(outcome).toBe('dead-lettered');
    expect(dlq.entries[0]!.reason.reason).toBe('token-endpoint');
    expect(dlq.entries[0]!.reason.detail).toMatch(/invalid_client/);
    // One AUTH with the cached (revoked) token, whose renewal then failed at the token endpoint.
    expect(relay.authAttempts.slice(issued).map((a) => a.credentialsValid)).toEqual([false]);
    expect(relay.messages.map((m) => m.rcptTo)).toEqual([['warm@example.net']]);
    const output = logLines.join('\n') + JSON.stringify(dlq.entries);
    expect(output).toContain('invalid_client');
    expect(output).not.toContain(CLIENT_SECRET);
    expect(output).not.toContain('a-rotated-secret-nobody-has');
  });
});
