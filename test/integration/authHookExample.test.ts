/**
 * examples/auth-hook/dynamoTenantAuth.ts against dynalite and a real smtp-server relay: two
 * tenants' credentials in the operator's table (one as a secret reference, one inline), each
 * message authenticates as its tenant.
 */
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { AuthHookRunner, type OutboundSmtpAuthConfig } from '../../lambda/core/authHook/index.js';
import { relayMessage, summarizeRelay } from '../../lambda/core/relay.js';
import { SmtpPool } from '../../lambda/core/smtp/pool.js';
import { localAwsClientConfig } from '../../local/awsClientConfig.js';
import { testCerts } from '../../local/certs.js';
import { startDynamo, type LocalEmulator } from '../../local/emulators.js';
import { startSmtpRelay, type SmtpRelay } from '../../local/smtpRelay.js';
import { MemoryConfigStore, MemorySecretSource } from '../helpers/memoryPorts.js';
import { structuredMessage } from '../helpers/messages.js';

let dynamo: LocalEmulator;
let relay: SmtpRelay;
let hook: OutboundSmtpAuthConfig;
const saved = { ...process.env };

beforeAll(async () => {
  dynamo = await startDynamo();
  relay = await startSmtpRelay({ users: { 'a@smtp.example': 'secret-of-a', 'b@smtp.example': 'inline-of-b' } });
  const client = new DynamoDBClient(localAwsClientConfig(dynamo.endpoint, 1));
  await client.send(
    new CreateTableCommand({ TableName: 'tenant-auth', BillingMode: 'PAY_PER_REQUEST', KeySchema: [{ AttributeName: 'authKey', KeyType: 'HASH' }], AttributeDefinitions: [{ AttributeName: 'authKey', AttributeType: 'S' }] }),
  );
  const documents = DynamoDBDocumentClient.from(client);
  await documents.send(new PutCommand({ TableName: 'tenant-auth', Item: { authKey: 'tenant-a', user: 'a@smtp.example', type: 'LOGIN', passwordSecret: 'mailrelay/tenants/a' } }));
  await documents.send(new PutCommand({ TableName: 'tenant-auth', Item: { authKey: 'tenant-b', user: 'b@smtp.example', password: 'inline-of-b' } }));
  client.destroy();
  // The example builds its client at import, from the environment, as it would in the Lambda.
  Object.assign(process.env, { TENANT_AUTH_TABLE: 'tenant-auth', AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local' });
  hook = (await import('../../examples/auth-hook/dynamoTenantAuth.js')).outboundSmtpAuthConfig as OutboundSmtpAuthConfig;
});
afterAll(async () => {
  process.env = saved;
  await Promise.all([dynamo.stop(), relay.stop()]);
});

it('each tenant authenticates with the credentials its row names', async () => {
  const config = new MemoryConfigStore({ global: { scope: 'global', relay: { host: '127.0.0.1', port: relay.port, timeoutSeconds: 5 }, auth: { type: 'PLAIN' } } });
  const pool = new SmtpPool({ ca: testCerts.ca });
  const deps = { config, secrets: new MemorySecretSource({ 'mailrelay/tenants/a': 'secret-of-a' }), pool, authHook: new AuthHookRunner({ module: hook }) };
  try {
    const send = (key: string, id: string) => relayMessage(structuredMessage({ to: ['x@partner.example'], auth: { key }, idempotencyKey: id }), deps);
    const results = [await send('tenant-a', 'e1'), await send('tenant-b', 'e2'), await send('tenant-unknown', 'e3')];

    expect(results.slice(0, 2).map(summarizeRelay)).toEqual(['delivered', 'delivered']);
    expect(relay.messages.map((m) => [m.user, m.authMethod])).toEqual([
      ['a@smtp.example', 'LOGIN'],
      ['b@smtp.example', 'PLAIN'],
    ]);
    // No row and nothing configured: a config error naming what is missing, nothing sent.
    expect(results[2]!.recipients[0]).toMatchObject({ status: 'failed', reason: 'config-error' });
    expect(results[2]!.recipients[0]!.detail).toContain('auth.pass');
  } finally {
    pool.closeIdle();
  }
});
