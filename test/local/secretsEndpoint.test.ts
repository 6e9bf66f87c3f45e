import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { GetParameterCommand, GetParametersCommand, ParameterNotFound, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startSecretsEndpoint } from '../../local/secretsEndpoint.js';
import type { SecretsEndpoint } from '../../local/secretsEndpoint.js';

const clientConfig = (endpoint: SecretsEndpoint) => ({
  endpoint: endpoint.url,
  region: 'us-east-1',
  credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  maxAttempts: 1,
});

async function awsError(promise: Promise<unknown>): Promise<Error & { $metadata?: { httpStatusCode?: number }; $fault?: string }> {
  try {
    await promise;
  } catch (err) {
    return err as Error & { $metadata?: { httpStatusCode?: number } };
  }
  throw new Error('expected the call to fail');
}

describe('startSecretsEndpoint with the real Secrets Manager client', () => {
  let endpoint: SecretsEndpoint;
  let client: SecretsManagerClient;

  beforeAll(async () => {
    endpoint = await startSecretsEndpoint({ secrets: { 'mailrelay/acme': '{"username":"msys","password":"pw-1"}', 'mailrelay/plain': 'just-a-string' } });
    client = new SecretsManagerClient(clientConfig(endpoint));
  });
  afterEach(() => endpoint.clearRequests());
  afterAll(async () => {
    client.destroy();
    await endpoint.stop();
  });

  it('returns a seeded secret by name and by ARN', async () => {
    // Act
    const byName = await client.send(new GetSecretValueCommand({ SecretId: 'mailrelay/acme' }));
    const byArn = await client.send(new GetSecretValueCommand({ SecretId: byName.ARN }));

    // Assess
    expect(JSON.parse(byName.SecretString ?? '')).toEqual({ username: 'msys', password: 'pw-1' });
    expect(byName.ARN).toMatch(/^arn:aws:secretsmanager:us-east-1:000000000000:secret:mailrelay\/acme-\w{6}$/);
    expect(byName.VersionStages).toEqual(['AWSCURRENT']);
    expect(byName.CreatedDate).toBeInstanceOf(Date);
    expect(byArn.SecretString).toBe(byName.SecretString);
    expect(endpoint.countRequests('secretsmanager.GetSecretValue', 'mailrelay/acme')).toBe(1);
    expect(endpoint.countRequests('secretsmanager.GetSecretValue')).toBe(2);
  });

  it('answers a missing secret with ResourceNotFoundException (HTTP 400)', async () => {
    // Act
    const err = await awsError(client.send(new GetSecretValueCommand({ SecretId: 'mailrelay/missing' })));

    // Assess
    expect(err).toBeInstanceOf(ResourceNotFoundException);
    expect(err.name).toBe('ResourceNotFoundException');
    expect(err.message).toBe("Secrets Manager can't find the specified secret.");
    expect(err.$metadata?.httpStatusCode).toBe(400);
  });

  it('rotates with setSecret and PutSecretValue, keeping AWSPREVIOUS', async () => {
    // Prepare
    endpoint.setSecret('mailrelay/rotating', 'old');

    // Act
    const put = await client.send(new PutSecretValueCommand({ SecretId: 'mailrelay/rotating', SecretString: 'new' }));
    const current = await client.send(new GetSecretValueCommand({ SecretId: 'mailrelay/rotating' }));
    const previous = await client.send(new GetSecretValueCommand({ SecretId: 'mailrelay/rotating', VersionStage: 'AWSPREVIOUS' }));
    endpoint.setSecret('mailrelay/rotating', 'newest');
    const afterSet = await client.send(new GetSecretValueCommand({ SecretId: 'mailrelay/rotating' }));

    // Assess
    expect(current).toMatchObject({ SecretString: 'new', VersionId: put.VersionId });
    expect(previous.SecretString).toBe('old');
    expect(afterSet.SecretString).toBe('newest');
  });

  it('creates, describes and lists secrets', async () => {
    // Act
    const created = await client.send(new CreateSecretCommand({ Name: 'mailrelay/created', SecretString: 'v', Description: 'test' }));
    const duplicate = await awsError(client.send(new CreateSecretCommand({ Name: 'mailrelay/created', SecretString: 'v' })));
    const described = await client.send(new DescribeSecretCommand({ SecretId: 'mailrelay/created' }));
    const listed = await client.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: ['mailrelay/cr'] }] }));

    // Assess
    expect(created.VersionId).toBeDefined();
    expect(duplicate.name).toBe('ResourceExistsException');
    expect(described).toMatchObject({ Name: 'mailrelay/created', Description: 'test', VersionIdsToStages: { [created.VersionId ?? '']: ['AWSCURRENT'] } });
    expect(listed.SecretList?.map((s) => s.Name)).toEqual(['mailrelay/created']);
  });

  it.each([
    { type: 'ThrottlingException', status: undefined, expectedStatus: 400 },
    { type: 'AccessDeniedException', status: undefined, expectedStatus: 400 },
    { type: 'InternalServiceError', status: undefined, expectedStatus: 500 },
    { type: 'ThrottlingException', status: 429, expectedStatus: 429 },
  ] as const)('injects $type (HTTP $expectedStatus) once', async ({ type, status, expectedStatus }) => {
    // Prepare
    endpoint.failNext('secretsmanager.GetSecretValue', { type, status });

    // Act
    const err = await awsError(client.send(new GetSecretValueCommand({ SecretId: 'mailrelay/plain' })));
    const next = await client.send(new GetSecretValueCommand({ SecretId: 'mailrelay/plain' }));

    // Assess
    expect(err.name).toBe(type);
    expect(err.$metadata?.httpStatusCode).toBe(expectedStatus);
    expect(next.SecretString).toBe('just-a-string');
    expect(endpoint.requests.map((r) => r.failedWith)).toEqual([type, undefined]);
  });

  it('is retried by the SDK on throttling when retries are on', async () => {
    // Prepare
    const retrying = new SecretsManagerClient({ ...clientConfig(endpoint), maxAttempts: 3 });
    endpoint.failNext('*', { type: 'ThrottlingException', times: 2 });

    // Act
    const result = await retrying.send(new GetSecretValueCommand({ SecretId: 'mailrelay/plain' }));
    retrying.destroy();

    // Assess
    expect(result.SecretString).toBe('just-a-string');
    expect(endpoint.countRequests('secretsmanager.GetSecretValue', 'mailrelay/plain')).toBe(3);
  }, 15_000);

  it('is found through AWS_ENDPOINT_URL_SECRETS_MANAGER', async () => {
    // Prepare
    const saved = process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER;
    process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = endpoint.url;
    const fromEnv = new SecretsManagerClient({ region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, maxAttempts: 1 });

    try {
      // Act
      const result = await fromEnv.send(new GetSecretValueCommand({ SecretId: 'mailrelay/plain' }));

      // Assess
      expect(result.SecretString).toBe('just-a-string');
    } finally {
      fromEnv.destroy();
      if (saved === undefined) delete process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER;
      else process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = saved;
    }
  });
});

describe('startSecretsEndpoint with the real SSM client', () => {
  let endpoint: SecretsEndpoint;
  let client: SSMClient;

  beforeAll(async () => {
    endpoint = await startSecretsEndpoint({ parameters: { '/mailrelay/partner': 'ssm-pw' } });
    client = new SSMClient(clientConfig(endpoint));
  });
  afterAll(async () => {
    client.destroy();
    await endpoint.stop();
  });

  it('decrypts a SecureString only WithDecryption', async () => {
    // Act
    const decrypted = await client.send(new GetParameterCommand({ Name: '/mailrelay/partner', WithDecryption: true }));
    const encrypted = await client.send(new GetParameterCommand({ Name: '/mailrelay/partner' }));

    // Assess
    expect(decrypted.Parameter).toMatchObject({ Name: '/mailrelay/partner', Type: 'SecureString', Value: 'ssm-pw', Version: 1 });
    expect(decrypted.Parameter?.ARN).toBe('arn:aws:ssm:us-east-1:000000000000:parameter/mailrelay/partner');
    expect(encrypted.Parameter?.Value).not.toBe('ssm-pw');
    expect(endpoint.countRequests('AmazonSSM.GetParameter', '/mailrelay/partner')).toBe(2);
  });

  it('answers a missing parameter with ParameterNotFound (HTTP 400)', async () => {
    // Act
    const err = await awsError(client.send(new GetParameterCommand({ Name: '/mailrelay/missing', WithDecryption: true })));

    // Assess
    expect(err).toBeInstanceOf(ParameterNotFound);
    expect(err.$metadata?.httpStatusCode).toBe(400);
  });

  it('puts parameters, refuses an overwrite without Overwrite, and reads several at once', async () => {
    // Act
    const first = await client.send(new PutParameterCommand({ Name: '/mailrelay/new', Value: 'a', Type: 'SecureString' }));
    const refused = await awsError(client.send(new PutParameterCommand({ Name: '/mailrelay/new', Value: 'b', Type: 'SecureString' })));
    const second = await client.send(new PutParameterCommand({ Name: '/mailrelay/new', Value: 'b', Type: 'SecureString', Overwrite: true }));
    endpoint.setParameter('/mailrelay/plain', 'visible', 'String');
    const many = await client.send(new GetParametersCommand({ Names: ['/mailrelay/new', '/mailrelay/plain', '/nope'] }));

    // Assess
    expect(first.Version).toBe(1);
    expect(refused.name).toBe('ParameterAlreadyExists');
    expect(second.Version).toBe(2);
    expect(many.Parameters?.find((p) => p.Name === '/mailrelay/plain')?.Value).toBe('visible');
    expect(many.InvalidParameters).toEqual(['/nope']);
  });

  it('injects an AccessDeniedException for SSM', async () => {
    // Prepare
    endpoint.failNext('AmazonSSM.GetParameter', { type: 'AccessDeniedException', message: 'not allowed' });

    // Act
    const err = await awsError(client.send(new GetParameterCommand({ Name: '/mailrelay/partner', WithDecryption: true })));

    // Assess
    expect(err).toMatchObject({ name: 'AccessDeniedException', message: 'not allowed' });
  });
});
