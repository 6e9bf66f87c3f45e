import { App, Duration, Stack } from 'aws-cdk-lib';
import { Vpc } from 'aws-cdk-lib/aws-ec2';
import { Key } from 'aws-cdk-lib/aws-kms';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { describe, expect, it } from 'vitest';
import { readMailrelayContext, type MailrelayContextKey } from '../../infra/context.js';
import { MailrelayPropsError } from '../../infra/errors.js';
import { MailrelayStack, type MailrelayStackProps } from '../../infra/mailrelayStack.js';
import { parameterArnPrefix, resolveMailrelayProps } from '../../infra/mailrelayStackProps.js';
import { FIXTURE_ENTRY, thrownBy } from './helpers.js';

// Nothing here synthesizes: every misconfiguration must fail before a resource (or a bundle) is built.

/** Builds the stack in a fresh app and returns what it threw, and the app. */
function buildFails(props: MailrelayStackProps): { error: Error; app: App } {
  const app = new App();
  const error = thrownBy(() => new MailrelayStack(app, 'Mailrelay', { entry: FIXTURE_ENTRY, ...props }));
  return { error, app };
}

describe('stack props validation', () => {
  it.each<[string, MailrelayStackProps, string]>([
    [
      'a batch size above 10 without a batching window',
      { batchSize: 20 },
      'mailrelay: invalid batchSize: 20 is above 10, which the SQS event source only accepts with a maxBatchingWindow of at least 1 second',
    ],
    [
      'a visibility timeout shorter than 6 × the function timeout',
      { visibilityTimeout: Duration.seconds(300) },
      'mailrelay: invalid visibilityTimeout: 300 seconds is too short: it must be at least 6 × functionTimeout (60 seconds)' +
        ' + maxBatchingWindow (0 seconds) = 360 seconds, so a batch still running is not delivered twice',
    ],
    [
      'a visibility timeout that forgets the batching window',
      { functionTimeout: Duration.seconds(30), maxBatchingWindow: Duration.seconds(10), visibilityTimeout: Duration.seconds(180) },
      'mailrelay: invalid visibilityTimeout: 180 seconds is too short: it must be at least 6 × functionTimeout (30 seconds)' +
        ' + maxBatchingWindow (10 seconds) = 190 seconds, so a batch still running is not delivered twice',
    ],
    ['maxReceiveCount 0', { maxReceiveCount: 0 }, 'mailrelay: invalid maxReceiveCount: 0 is out of range: it must be an integer from 1 to 1000'],
    ['an event bus ARN that is not one', { eventBusArn: 'arn:aws:sns:eu-west-1:111122223333:bus' }, 'mailrelay: invalid eventBusArn: "arn:aws:sns:eu-west-1:111122223333:bus" is not an EventBridge event bus ARN'],
    [
      'a name for the created bus next to an existing bus',
      { eventBusArn: 'arn:aws:events:eu-west-1:111122223333:event-bus/shared', eventBusName: 'mine' },
      'mailrelay: invalid eventBusName: names the bus the stack creates: leave it out when passing eventBus or eventBusArn',
    ],
    ['the default bus as the created bus', { eventBusName: 'default' }, 'mailrelay: invalid eventBusName: "default" must be 1–256 of A-Z a-z 0-9 / . _ - (and not "default")'],
    [
      'maxReceiveCount 1001',
      { maxReceiveCount: 1001 },
      'mailrelay: invalid maxReceiveCount: 1001 is out of range: it must be an integer from 1 to 1000',
    ],
    ['maxConcurrency 1', { maxConcurrency: 1 }, 'mailrelay: invalid maxConcurrency: 1 is out of range: it must be an integer from 2 to 1000'],
    ['a batch size of 0', { batchSize: 0 }, 'mailrelay: invalid batchSize: 0 is out of range: it must be an integer from 1 to 10000'],
    [
      'a batching window above 5 minutes',
      { batchSize: 100, maxBatchingWindow: Duration.seconds(301) },
      'mailrelay: invalid maxBatchingWindow: 301 seconds is out of range: it must be a whole number of seconds from 0 to 300',
    ],
    [
      'a function timeout above 15 minutes',
      { functionTimeout: Duration.minutes(16) },
      'mailrelay: invalid functionTimeout: 960 seconds is out of range: it must be a whole number of seconds from 1 to 900',
    ],
    [
      'a queue retention as long as the DLQ retention',
      { retentionPeriod: Duration.days(14) },
      "mailrelay: invalid retentionPeriod: 1209600 seconds is out of range: it must be at least 60 seconds and shorter than the dead-letter queue's" +
        ' 14 days (a message keeps its enqueue time when it moves to the DLQ)',
    ],
    [
      'a wildcard in the secret prefix',
      { secretPrefix: 'mailrelay/*' },
      'mailrelay: invalid secretPrefix: "mailrelay/*" must be 1–256 of A-Z a-z 0-9 / _ + = . @ - (no wildcards)',
    ],
    [
      'a secret prefix of slashes only',
      { secretPrefix: '/' },
      'mailrelay: invalid secretPrefix: "/" would grant every secret and parameter: it needs a character besides "/"',
    ],
    [
      'a secret prefix without a trailing slash (it widened the worker check and IAM to mailrelay-prod-db)',
      { secretPrefix: 'mailrelay' },
      'mailrelay: invalid secretPrefix: "mailrelay" must end with "/" (without it, "mailrelay" would also admit "mailrelay-other")',
    ],
    [
      'a producer role that is not a role ARN',
      { producerRoleArns: ['arn:aws:iam::123456789012:user/app'] },
      'mailrelay: invalid producerRoleArns[0]: "arn:aws:iam::123456789012:user/app" is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)',
    ],
    [
      'a KMS alias instead of a key ARN',
      { secretKmsKeyArns: ['arn:aws:kms:eu-west-1:123456789012:alias/mail'] },
      'mailrelay: invalid secretKmsKeyArns[0]: "arn:aws:kms:eu-west-1:123456789012:alias/mail" is not a KMS key ARN' +
        ' (arn:aws:kms:<region>:<account>:key/<key-id>; aliases and wildcards are not allowed)',
    ],
    [
      'a wildcard KMS key',
      { secretKmsKeyArns: ['*'] },
      'mailrelay: invalid secretKmsKeyArns[0]: "*" is not a KMS key ARN (arn:aws:kms:<region>:<account>:key/<key-id>; aliases and wildcards are not allowed)',
    ],
    ['subnets without a VPC', { subnetIds: ['subnet-1'] }, 'mailrelay: invalid subnetIds: needs a VPC: set vpc (or vpcId) as well'],
    [
      'security groups without a VPC',
      { securityGroupIds: ['sg-1'] },
      'mailrelay: invalid securityGroupIds: needs a VPC: set vpc (or vpcId) as well',
    ],
    [
      'both an encryption key and its ARN',
      { encryptionKey: Key.fromKeyArn(new Stack(new App(), 'Keys'), 'K', 'arn:aws:kms:eu-west-1:123456789012:key/k'), encryptionKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/k' },
      'mailrelay: invalid encryptionKey: set encryptionKey or encryptionKeyArn, not both',
    ],
    ['an e-mail address without a domain', { alarmEmail: 'ops' }, 'mailrelay: invalid alarmEmail: "ops" is not an e-mail address'],
    ['an AWS metrics namespace', { metricsNamespace: 'AWS/Mail' }, 'mailrelay: invalid metricsNamespace: "AWS/Mail" is reserved: namespaces starting with AWS/ belong to AWS services'],
    [
      'an unknown log level',
      { logLevel: 'VERBOSE' as never },
      'mailrelay: invalid logLevel: "VERBOSE" is not one of TRACE, DEBUG, INFO, WARN, ERROR, CRITICAL, SILENT',
    ],
    [
      'an entry that does not exist',
      { entry: '/nonexistent/relay.ts' },
      'mailrelay: invalid entry: /nonexistent/relay.ts does not exist (set the entry prop, or -c entry=<path> on the command line)',
    ],
  ])('refuses %s, before anything is built', (_case, props, message) => {
    // Act
    const { error, app } = buildFails(props);

    // Assess
    expect(error).toBeInstanceOf(MailrelayPropsError);
    expect(error.message).toBe(message);
    expect(app.node.children).toHaveLength(0);
  });

  it('refuses a VPC ID lookup in an environment-agnostic stack', () => {
    // Act
    const { error } = buildFails({ vpcId: 'vpc-0123456789abcdef0' });

    // Assess
    expect(error.message).toBe(
      'mailrelay: invalid vpcId: looking up a VPC needs a stack with an explicit env (account and region): run cdk with credentials, or pass env',
    );
  });

  it('refuses a VPC given twice', () => {
    // Prepare
    const vpc = Vpc.fromVpcAttributes(new Stack(new App(), 'Network'), 'Vpc', { vpcId: 'vpc-1', availabilityZones: ['eu-west-1a'] });

    // Act
    const { error } = buildFails({ vpc, vpcId: 'vpc-1' });

    // Assess
    expect(error.message).toBe('mailrelay: invalid vpc: set vpc or vpcId, not both');
  });

  it('accepts a batch size above 10 with a batching window, and derives the visibility timeout', () => {
    // Act
    const settings = resolveMailrelayProps({ entry: FIXTURE_ENTRY, batchSize: 100, maxBatchingWindow: Duration.seconds(20) });

    // Assess
    expect(settings.batchSize).toBe(100);
    expect(settings.visibilityTimeout.toSeconds()).toBe(6 * 60 + 20);
  });

  it('applies the documented defaults', () => {
    // Act
    const settings = resolveMailrelayProps({ entry: FIXTURE_ENTRY });

    // Assess
    expect({
      secretPrefix: settings.secretPrefix,
      functionTimeout: settings.functionTimeout.toSeconds(),
      memorySize: settings.memorySize,
      visibilityTimeout: settings.visibilityTimeout.toSeconds(),
      retentionPeriod: settings.retentionPeriod.toDays(),
      maxReceiveCount: settings.maxReceiveCount,
      batchSize: settings.batchSize,
      maxBatchingWindow: settings.maxBatchingWindow,
      maxConcurrency: settings.maxConcurrency,
      logRetention: settings.logRetention,
      logLevel: settings.logLevel,
      configCacheTtl: settings.configCacheTtl.toSeconds(),
      secretCacheTtl: settings.secretCacheTtl.toSeconds(),
      serviceName: settings.serviceName,
      metricsNamespace: settings.metricsNamespace,
      oldestMessageAgeThreshold: settings.oldestMessageAgeThreshold.toMinutes(),
      authFailureThreshold: settings.authFailureThreshold,
    }).toEqual({
      secretPrefix: 'mailrelay/',
      functionTimeout: 60,
      memorySize: 512,
      visibilityTimeout: 360,
      retentionPeriod: 4,
      maxReceiveCount: 204,
      batchSize: 10,
      maxBatchingWindow: undefined,
      maxConcurrency: 5,
      logRetention: RetentionDays.ONE_MONTH,
      logLevel: 'INFO',
      configCacheTtl: 60,
      secretCacheTtl: 300,
      serviceName: 'mailrelay',
      metricsNamespace: 'Mailrelay',
      oldestMessageAgeThreshold: 30,
      authFailureThreshold: 1,
    });
  });

  it.each([
    ['mailrelay/', 'mailrelay/'],
    ['/mailrelay/', 'mailrelay/'],
    ['acme-', 'acme-'],
  ])('maps the secret prefix %s to the SSM parameter ARN prefix %s', (prefix, expected) => {
    // Assess
    expect(parameterArnPrefix(prefix)).toBe(expected);
  });
});

describe('context', () => {
  /** A context getter over a plain object, as `-c key=value` gives strings. */
  const contextOf = (values: Partial<Record<MailrelayContextKey, unknown>>) => (key: MailrelayContextKey) => values[key];

  it('gives no props and the default stack name when no context is set', () => {
    // Act
    const context = readMailrelayContext(contextOf({}));

    // Assess
    expect(context).toEqual({ stackName: 'Mailrelay', props: {} });
  });

  it('reads command-line strings into typed props', () => {
    // Act
    const { stackName, props } = readMailrelayContext(
      contextOf({
        stackName: 'MailrelayProd',
        batchSize: '50',
        maxBatchingWindowSeconds: '5',
        maxConcurrency: '20',
        functionTimeoutSeconds: '30',
        retentionPeriodDays: '7',
        logRetentionDays: '90',
        secretKmsKeyArns: 'arn:aws:kms:eu-west-1:123456789012:key/a, arn:aws:kms:eu-west-1:123456789012:key/b',
        alarmEmail: 'ops@example.com',
        oldestMessageAgeMinutes: '60',
        logLevel: 'DEBUG',
      }),
    );

    // Assess
    expect(stackName).toBe('MailrelayProd');
    expect(props.batchSize).toBe(50);
    expect(props.maxBatchingWindow?.toSeconds()).toBe(5);
    expect(props.maxConcurrency).toBe(20);
    expect(props.functionTimeout?.toSeconds()).toBe(30);
    expect(props.retentionPeriod?.toDays()).toBe(7);
    expect(props.logRetention).toBe(RetentionDays.THREE_MONTHS);
    expect(props.secretKmsKeyArns).toEqual(['arn:aws:kms:eu-west-1:123456789012:key/a', 'arn:aws:kms:eu-west-1:123456789012:key/b']);
    expect(props.alarmEmail).toBe('ops@example.com');
    expect(props.oldestMessageAgeThreshold?.toMinutes()).toBe(60);
    expect(props.logLevel).toBe('DEBUG');
    expect(Object.keys(props)).toHaveLength(10);
  });

  it('reads numbers and arrays from cdk.json as they are', () => {
    // Act
    const { props } = readMailrelayContext(contextOf({ maxReceiveCount: 5, subnetIds: ['subnet-a', 'subnet-b'] }));

    // Assess
    expect(props).toEqual({ maxReceiveCount: 5, subnetIds: ['subnet-a', 'subnet-b'] });
  });

  it.each<[Partial<Record<MailrelayContextKey, unknown>>, string]>([
    [{ batchSize: 'ten' }, 'mailrelay: invalid context "batchSize": "ten" is not an integer'],
    [{ functionTimeoutSeconds: '1.5' }, 'mailrelay: invalid context "functionTimeoutSeconds": "1.5" is not an integer'],
    [{ subnetIds: 42 }, 'mailrelay: invalid context "subnetIds": 42 is not a comma-separated list or an array of strings'],
    [{ alarmEmail: true }, 'mailrelay: invalid context "alarmEmail": true is not a string'],
  ])('refuses the malformed context %j', (values, message) => {
    // Act
    const error = thrownBy(() => readMailrelayContext(contextOf(values)));

    // Assess
    expect(error).toBeInstanceOf(MailrelayPropsError);
    expect(error.message).toBe(message);
  });

  it('refuses a log retention CloudWatch Logs does not offer', () => {
    // Act
    const error = thrownBy(() => readMailrelayContext(contextOf({ logRetentionDays: '15' })));

    // Assess
    expect(error.message).toMatch(/^mailrelay: invalid context "logRetentionDays": 15 is not one of the retention periods CloudWatch Logs offers \(1, 3, 5, 7, 14, 30,/);
  });
});
