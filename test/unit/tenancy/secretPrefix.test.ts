/**
 * Issue 14's secret-prefix and env findings against the worker's own checks: a prefix without a
 * trailing "/" widened the check, the "/mailrelay/" form broke every parameter keysource, and an
 * env keysource could read any variable.
 */
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { AwsSecretSource } from '../../../lambda/adapters/awsSecretSource.js';
import { PermanentDeliveryError } from '../../../lambda/core/errors.js';
import { readSettings } from '../../../lambda/worker/settings.js';

const secretsManager = new SecretsManagerClient({ region: 'us-east-1' });
const ssm = new SSMClient({ region: 'us-east-1' });
const sm = mockClient(secretsManager);
const ps = mockClient(ssm);
const source = (prefix: string, env: Record<string, string> = {}) => new AwsSecretSource({ secretsManager, ssm, prefix, env, cacheTtlMs: 0 });
const baseEnv = { CONFIG_TABLE_NAME: 'c', IDEMPOTENCY_TABLE_NAME: 'i', DEAD_LETTER_QUEUE_URL: 'https://sqs.example/dlq' };

beforeEach(() => {
  sm.reset();
  ps.reset();
  sm.on(GetSecretValueCommand).resolves({ SecretString: 'from-secrets-manager' });
  ps.on(GetParameterCommand).resolves({ Parameter: { Value: 'from-ssm' } });
});

describe('secret prefix', () => {
  it('a prefix without a trailing "/" admitted mailrelay-prod-db: SECRET_PREFIX must end with "/" (cold start fails naming it)', () => {
    // Act / Assess
    expect(() => readSettings({ ...baseEnv, SECRET_PREFIX: 'mailrelay' })).toThrow(/SECRET_PREFIX "mailrelay" must end with "\/"/);
    expect(() => readSettings({ ...baseEnv, SECRET_PREFIX: '' })).toThrow(/SECRET_PREFIX/);
    expect(() => readSettings({ ...baseEnv, SECRET_PREFIX: '/' })).toThrow(/SECRET_PREFIX "\/" would admit every secret/);
    expect(() => new AwsSecretSource({ secretsManager, ssm, prefix: 'mailrelay' })).toThrow(/must end with "\/"/);
    expect(readSettings({ ...baseEnv }).secretPrefix).toBe('mailrelay/');
    expect(readSettings({ ...baseEnv, SECRET_PREFIX: '/mailrelay/' }).secretPrefix).toBe('/mailrelay/');
  });

  it('the prefix mailrelay/ refuses mailrelay-prod-db without calling AWS', async () => {
    // Act
    const error = await source('mailrelay/').read({ secret: 'mailrelay-prod-db' }).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(PermanentDeliveryError);
    expect((error as Error).message).toMatch(/outside the allowed prefix/);
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(0);
  });

  it('the documented /mailrelay/ form broke every parameter keysource: both forms now read /mailrelay/… parameters and mailrelay/… secrets', async () => {
    for (const prefix of ['/mailrelay/', 'mailrelay/']) {
      // Act
      const s = source(prefix);
      const parameter = await s.read({ parameter: '/mailrelay/acme/password' });
      const bare = await s.read({ parameter: 'mailrelay/acme/password' });
      const secret = await s.read({ secret: 'mailrelay/acme' });
      const slashedSecret = await s.read({ secret: '/mailrelay/acme' }).catch((e: unknown) => e);

      // Assess
      expect([parameter, bare, secret]).toEqual(['from-ssm', 'from-ssm', 'from-secrets-manager']);
      // Secrets Manager names carry no leading "/": IAM grants secret:mailrelay/* only, and so does the check.
      expect(slashedSecret).toBeInstanceOf(PermanentDeliveryError);
    }
    expect(ps.commandCalls(GetParameterCommand).map((c) => c.args[0].input.Name)).toEqual([
      '/mailrelay/acme/password',
      'mailrelay/acme/password',
      '/mailrelay/acme/password',
      'mailrelay/acme/password',
    ]);
  });
});

describe('env keysources', () => {
  it('an env keysource could read AWS_SECRET_ACCESS_KEY: the secret source refuses every name outside MAILRELAY_*', async () => {
    // Prepare
    const s = source('mailrelay/', { AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI', MAILRELAY_RELAY_PASSWORD: 'pw' });

    // Act
    const refused = await s.read({ env: 'AWS_SECRET_ACCESS_KEY' }).catch((e: unknown) => e);

    // Assess
    expect(refused).toBeInstanceOf(PermanentDeliveryError);
    expect((refused as PermanentDeliveryError).reason).toBe('config-error');
    expect((refused as Error).message).toBe('env:AWS_SECRET_ACCESS_KEY is refused: env keysources read only variables named MAILRELAY_*');
    expect((refused as Error).message).not.toContain('wJalrXUtnFEMI');
    expect(await s.read({ env: 'MAILRELAY_RELAY_PASSWORD' })).toBe('pw');
  });
});
