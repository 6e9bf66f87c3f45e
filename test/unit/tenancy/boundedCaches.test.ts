/**
 * Bounded memory whatever the messages say (issue 14): 1,000 messages, each with its own binding,
 * its own recipient domains and its own `auth.user`, run through the real worker (processRecord →
 * routing → credentials) with the real DynamoDB config store, Secrets Manager source and OAuth2
 * token provider. Only the AWS clients, the token endpoint and the SMTP session are stand-ins.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SSMClient } from '@aws-sdk/client-ssm';
import { BatchGetCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import { AwsSecretSource } from '../../../lambda/adapters/awsSecretSource.js';
import { DEFAULT_CONFIG_CACHE_ENTRIES, DynamoConfigStore } from '../../../lambda/adapters/dynamoConfigStore.js';
import { resolveKeysource } from '../../../lambda/core/keysources.js';
import { createOAuth2TokenProvider } from '../../../lambda/core/oauth/index.js';
import type { SmtpPool } from '../../../lambda/core/smtp/pool.js';
import type { SessionCredentials, SmtpSession } from '../../../lambda/core/smtp/session.js';
import { processRecord } from '../../../lambda/worker/processRecord.js';
import { MemoryDeadLetterQueue, MemoryIdempotencyStore } from '../../helpers/memoryPorts.js';

const MESSAGES = 1_000;
const GLOBAL = {
  scope: 'global',
  relay: { host: 'smtp.office365.com', port: 587 },
  auth: {
    type: 'XOAUTH2',
    user: 'noreply@acme.example',
    oauth2: { tenantId: 'contoso.onmicrosoft.com', clientId: 'app', clientSecret: { secret: 'mailrelay/m365' }, scope: 'https://outlook.office365.com/.default' },
  },
};

/** A pool that authenticates like the real one (credentials, then the token) and accepts every recipient. */
function acceptingPool(): SmtpPool & { transactions: number } {
  const pool = {
    transactions: 0,
    async withSession<T>(_route: unknown, credentials: () => Promise<SessionCredentials>, use: (session: SmtpSession, reused: boolean) => Promise<T>): Promise<T> {
      const creds = await credentials();
      if (creds.mechanism === 'XOAUTH2') await creds.getToken(false);
      const session = {
        send: async (envelope: { to: readonly string[] }) => {
          pool.transactions += 1;
          return { accepted: [...envelope.to], rejected: [], response: '250 2.0.0 queued' };
        },
      } as unknown as SmtpSession;
      return use(session, false);
    },
  };
  return pool as unknown as SmtpPool & { transactions: number };
}

describe('bounded caches', () => {
  it('1,000 messages with distinct recipient domains, bindings and auth.user leave the config, secret and token caches at their bound', async () => {
    // Prepare
    const documents = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
    const dynamo = mockClient(documents);
    dynamo.on(BatchGetCommand).callsFake((input: { RequestItems: Record<string, { Keys: { scope: string }[] }> }) => ({
      Responses: { cfg: input.RequestItems['cfg']!.Keys.some((k) => k.scope === 'global') ? [GLOBAL] : [] },
    }));
    const secretsManager = new SecretsManagerClient({ region: 'us-east-1' });
    const sm = mockClient(secretsManager);
    sm.on(GetSecretValueCommand).resolves({ SecretString: 'client-secret-value' });
    const config = new DynamoConfigStore({ client: documents, tableName: 'cfg', cacheTtlMs: 60_000 });
    const secrets = new AwsSecretSource({ secretsManager, ssm: new SSMClient({ region: 'us-east-1' }), prefix: 'mailrelay/' });
    let tokenRequests = 0;
    const tokens = createOAuth2TokenProvider({
      resolveSecret: async (ref, options) => (await resolveKeysource(ref, secrets, options)).secret,
      fetch: (async () => {
        tokenRequests += 1;
        return new Response(JSON.stringify({ access_token: `token-${tokenRequests}`, token_type: 'Bearer', expires_in: 3600 }), { status: 200 });
      }) as typeof fetch,
    });
    const pool = acceptingPool();
    const idempotency = new MemoryIdempotencyStore();
    const deadLetters = new MemoryDeadLetterQueue();
    const quiet = () => undefined;
    const deps = {
      config,
      secrets,
      tokens,
      pool,
      idempotency,
      deadLetters,
      logger: { debug: quiet, info: quiet, warn: quiet, error: quiet },
      metrics: { addMetric: quiet },
      maxReceiveCount: 3,
      claimLeaseMs: 60_000,
    };

    // Act
    const outcomes: string[] = [];
    for (let i = 0; i < MESSAGES; i++) {
      const body = JSON.stringify({
        idempotencyKey: `k-${i}`,
        from: 'noreply@acme.example',
        binding: `tenant-${i}`,
        to: [`a@r${i}-a.example`, `b@r${i}-b.example`],
        subject: 's',
        text: 't',
        auth: { user: `mailbox-${i}@acme.example` },
      });
      outcomes.push(await processRecord({ messageId: `sqs-${i}`, receiptHandle: 'rh', body, attributes: { ApproximateReceiveCount: '1' } }, deps));
    }

    // Assess: every message relayed, each scope looked up, yet the caches stay at their bound
    expect(outcomes.every((o) => o === 'delivered')).toBe(true);
    expect(pool.transactions).toBe(MESSAGES);
    expect(config.cacheSize).toBe(DEFAULT_CONFIG_CACHE_ENTRIES);
    expect(tokens.cacheSize).toBe(1);
    expect(tokenRequests).toBe(1);
    expect(secrets.cacheSize).toBe(1);
    expect(deadLetters.entries).toEqual([]);
  });

  it('the config cache keeps the scopes in use: a hot scope survives a stream of one-off scopes (least recently used goes first)', async () => {
    // Prepare
    const documents = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
    const dynamo = mockClient(documents);
    dynamo.on(BatchGetCommand).resolves({ Responses: { cfg: [GLOBAL] } });
    const config = new DynamoConfigStore({ client: documents, tableName: 'cfg', maxCacheEntries: 10 });

    // Act
    for (let i = 0; i < 100; i++) await config.getItems(['global', `domain#d${i}.example`]);

    // Assess: 'global' was read from DynamoDB once, the one-off domains pushed each other out
    const globalReads = dynamo.commandCalls(BatchGetCommand).filter((c) => c.args[0].input.RequestItems?.['cfg']?.Keys?.some((k) => k['scope'] === 'global'));
    expect(globalReads).toHaveLength(1);
    expect(config.cacheSize).toBe(10);
  });
});
