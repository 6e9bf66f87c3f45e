/** Unit tests of the AWS adapters with aws-sdk-client-mock: caching, prefixes, error classes, limits. */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { AwsSecretSource } from '../../../lambda/adapters/awsSecretSource.js';
import { DynamoConfigStore } from '../../../lambda/adapters/dynamoConfigStore.js';
import { SQS_MAX_MESSAGE_BYTES, SqsDeadLetterQueue } from '../../../lambda/adapters/sqsDeadLetterQueue.js';
import { queueUrlFromArn } from '../../../lambda/adapters/sqsRetryScheduler.js';
import { PermanentDeliveryError, TransientDeliveryError } from '../../../lambda/core/errors.js';

const awsError = (name: string) => Object.assign(new Error(`${name} happened`), { name, $metadata: {} });

describe('DynamoConfigStore', () => {
  const documents = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
  const mock = mockClient(documents);
  beforeEach(() => mock.reset());

  it('reads missing scopes in one BatchGetItem and caches hits and misses for the TTL', async () => {
    mock.on(BatchGetCommand).resolves({ Responses: { cfg: [{ scope: 'global', relay: { host: 'h.example' } }] } });
    let now = 1_000;
    const store = new DynamoConfigStore({ client: documents, tableName: 'cfg', cacheTtlMs: 60_000, now: () => now });

    const first = await store.getItems(['global', 'domain#x.example']);
    const second = await store.getItems(['global', 'domain#x.example']);
    now += 61_000;
    await store.getItems(['domain#x.example']);

    expect([...first.keys()]).toEqual(['global']);
    expect([...second.keys()]).toEqual(['global']);
    expect(mock.commandCalls(BatchGetCommand)).toHaveLength(2);
    expect(mock.commandCalls(BatchGetCommand)[1]!.args[0].input.RequestItems?.['cfg']?.Keys).toEqual([{ scope: 'domain#x.example' }]);
  });

  it('retries UnprocessedKeys and classifies throttling as transient', async () => {
    mock
      .on(BatchGetCommand)
      .resolvesOnce({ Responses: { cfg: [] }, UnprocessedKeys: { cfg: { Keys: [{ scope: 'global' }] } } })
      .resolvesOnce({ Responses: { cfg: [{ scope: 'global' }] } });
    const store = new DynamoConfigStore({ client: documents, tableName: 'cfg' });
    expect([...(await store.getItems(['global'])).keys()]).toEqual(['global']);

    mock.reset();
    mock.on(BatchGetCommand).rejects(awsError('ProvisionedThroughputExceededException'));
    const error = await new DynamoConfigStore({ client: documents, tableName: 'cfg' }).getItems(['global']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientDeliveryError);
    expect((error as TransientDeliveryError).reason).toBe('aws-throttled');
  });
});

describe('AwsSecretSource', () => {
  const secretsManager = new SecretsManagerClient({ region: 'us-east-1' });
  const ssm = new SSMClient({ region: 'us-east-1' });
  const sm = mockClient(secretsManager);
  const ps = mockClient(ssm);
  beforeEach(() => {
    sm.reset();
    ps.reset();
  });
  const source = (extra: Partial<ConstructorParameters<typeof AwsSecretSource>[0]> = {}) =>
    new AwsSecretSource({ secretsManager, ssm, prefix: 'mailrelay/', ...extra });

  it('caches, and forceRefresh reads again', async () => {
    sm.on(GetSecretValueCommand).resolvesOnce({ SecretString: 'one' }).resolvesOnce({ SecretString: 'two' });
    const s = source();
    expect(await s.read({ secret: 'mailrelay/a' })).toBe('one');
    expect(await s.read({ secret: 'mailrelay/a' })).toBe('one');
    expect(await s.read({ secret: 'mailrelay/a' }, { forceRefresh: true })).toBe('two');
    expect(await s.read({ secret: 'mailrelay/a' })).toBe('two');
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });

  it('single-flights concurrent reads of one secret', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: 'x' });
    const s = source();
    await Promise.all(Array.from({ length: 20 }, () => s.read({ secret: 'mailrelay/a' })));
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(1);
  });

  it('refuses secrets and parameters outside the prefix without calling AWS', async () => {
    const s = source();
    await expect(s.read({ secret: 'other/a' })).rejects.toThrow(/outside the allowed prefix "mailrelay\/"/);
    await expect(s.read({ parameter: '/other/a' })).rejects.toBeInstanceOf(PermanentDeliveryError);
    expect(sm.calls()).toHaveLength(0);
    ps.on(GetParameterCommand).resolves({ Parameter: { Value: 'pv' } });
    expect(await s.read({ parameter: '/mailrelay/a' })).toBe('pv');
    expect(ps.commandCalls(GetParameterCommand)[0]!.args[0].input).toEqual({ Name: '/mailrelay/a', WithDecryption: true });
  });

  it.each([
    ['ResourceNotFoundException', PermanentDeliveryError, 'secret-missing'],
    ['AccessDeniedException', PermanentDeliveryError, 'config-error'],
    ['ThrottlingException', TransientDeliveryError, 'aws-throttled'],
    ['InternalServiceError', TransientDeliveryError, 'aws-error'],
  ] as const)('%s is %s (%s)', async (name, type, reason) => {
    sm.on(GetSecretValueCommand).rejects(awsError(name));
    const error = await source().read({ secret: 'mailrelay/a' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(type);
    expect((error as PermanentDeliveryError).reason).toBe(reason);
  });

  it('env and inline values, with one warning for inline values', async () => {
    const warnings: string[] = [];
    const s = source({ env: { MAILRELAY_RELAY_PW: 'from-env' }, onInlineValue: (w) => warnings.push(w) });
    expect(await s.read({ env: 'MAILRELAY_RELAY_PW' })).toBe('from-env');
    await expect(s.read({ env: 'MAILRELAY_MISSING' })).rejects.toThrow('environment variable MAILRELAY_MISSING is not set');
    expect(await s.read({ value: 'inline' })).toBe('inline');
    await s.read({ value: 'inline' });
    expect(warnings).toHaveLength(1);
  });
});

describe('SqsDeadLetterQueue', () => {
  const sqs = new SQSClient({ region: 'us-east-1' });
  const mock = mockClient(sqs);
  beforeEach(() => mock.reset());
  const reason = { reason: 'smtp-permanent', detail: 'relay rejected', responseCode: 550, response: '550 no', route: 'h:587 starttls PLAIN', recipients: ['a@x.example'], idempotencyKey: 'k', sourceMessageId: 'm', receiveCount: 1, failedAt: '2026-11-23T00:00:00Z' };

  it('sends the body unchanged with the reason as at most 10 attributes', async () => {
    mock.on(SendMessageCommand).resolves({});
    expect(await new SqsDeadLetterQueue({ client: sqs, queueUrl: 'q' }).send('{"x":1}', reason)).toBe(true);
    const input = mock.commandCalls(SendMessageCommand)[0]!.args[0].input;
    expect(input.MessageBody).toBe('{"x":1}');
    expect(Object.keys(input.MessageAttributes ?? {})).toHaveLength(10);
    expect(input.MessageAttributes?.['mailrelay.smtpCode']).toEqual({ DataType: 'Number', StringValue: '550' });
  });

  it('a body too large to carry its attributes is not sent (and not truncated)', async () => {
    const body = 'x'.repeat(SQS_MAX_MESSAGE_BYTES - 100);
    expect(await new SqsDeadLetterQueue({ client: sqs, queueUrl: 'q' }).send(body, reason)).toBe(false);
    expect(mock.calls()).toHaveLength(0);
  });

  it('a failing SendMessage throws (the record must then be retried)', async () => {
    mock.on(SendMessageCommand).rejects(awsError('InternalError'));
    await expect(new SqsDeadLetterQueue({ client: sqs, queueUrl: 'q' }).send('b', reason)).rejects.toBeInstanceOf(TransientDeliveryError);
  });
});

describe('queueUrlFromArn', () => {
  it('derives the queue URL', () => {
    expect(queueUrlFromArn('arn:aws:sqs:eu-west-1:123456789012:mail')).toBe('https://sqs.eu-west-1.amazonaws.com/123456789012/mail');
    expect(queueUrlFromArn('nonsense')).toBeUndefined();
  });
});
