import { App, Duration, Stack, Validations } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { Vpc } from 'aws-cdk-lib/aws-ec2';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readMailrelayContext } from '../../infra/context.js';
import type { MailrelayStack } from '../../infra/mailrelayStack.js';
import { resolveMailrelayProps } from '../../infra/mailrelayStackProps.js';
import { cdkJsonContext, FIXTURE_ENTRY, logicalId, nagReport, policyStatements, rolePolicyStatements, synthApp, thrownBy, type SynthesizedApp } from './helpers.js';

const KEY_ARN = 'arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555';
const SECRET_KEY_ARN = 'arn:aws:kms:eu-west-1:123456789012:key/mrk-0123456789abcdef0123456789abcdef';
const TOPIC_ARN = 'arn:aws:sns:eu-west-1:123456789012:ops-alerts';

// One app, one synth: a stack per option set.
let synth: SynthesizedApp;

beforeAll(() => {
  synth = synthApp({
    Encrypted: {
      encryptionKeyArn: KEY_ARN,
      secretKmsKeyArns: [SECRET_KEY_ARN],
      secretPrefix: '/acme/mail/',
      logLevel: 'DEBUG',
      configCacheTtl: Duration.seconds(30),
    },
    InVpc: (app) => ({
      vpc: Vpc.fromVpcAttributes(new Stack(app, 'Network'), 'Vpc', {
        vpcId: 'vpc-0123456789abcdef0',
        availabilityZones: ['eu-west-1a', 'eu-west-1b'],
      }),
      subnetIds: ['subnet-0aaaaaaaaaaaaaaaa', 'subnet-0bbbbbbbbbbbbbbbb'],
      securityGroupIds: ['sg-0123456789abcdef0'],
    }),
    Notified: {
      alarmEmail: 'ops@example.com',
      batchSize: 50,
      maxBatchingWindow: Duration.seconds(5),
      maxConcurrency: 20,
      maxReceiveCount: 300,
      functionTimeout: Duration.seconds(30),
      dashboardName: 'mailrelay-test',
    },
    ExistingTopic: { alarmTopicArn: TOPIC_ARN },
    Observed: { tracing: true, tags: { Team: 'mail', CostCenter: '42' }, logLevel: 'WARN' },
  }, { cloudFormationValidation: false });
});

afterAll(() => synth.cleanup());

function stack(id: string): MailrelayStack {
  const found = synth.stacks[id];
  if (!found) throw new Error(`no stack ${id}`);
  return found;
}

describe('customer-managed KMS key', () => {
  it('encrypts both queues with the key', () => {
    // Prepare
    const template = synth.template('Encrypted');

    // Assess
    template.resourceCountIs('AWS::SQS::Queue', 2);
    template.allResourcesProperties('AWS::SQS::Queue', {
      KmsMasterKeyId: KEY_ARN,
      KmsDataKeyReusePeriodSeconds: 300,
      SqsManagedSseEnabled: Match.absent(),
    });
  });

  it('encrypts every table (config, idempotency, relay state) with the key', () => {
    // Prepare
    const template = synth.template('Encrypted');

    // Assess
    template.resourceCountIs('AWS::DynamoDB::Table', 3);
    template.allResourcesProperties('AWS::DynamoDB::Table', {
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: KEY_ARN },
    });
  });

  it('grants the key for the tables and queues, and the secrets key only through Secrets Manager and SSM', () => {
    // Prepare
    const statements = rolePolicyStatements(synth.template('Encrypted'), stack('Encrypted'));
    const kms = statements.filter((statement) => [statement.Action].flat().some((action) => String(action).startsWith('kms:')));

    // Assess
    expect(kms).toEqual([
      {
        Effect: 'Allow',
        Action: ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey'],
        Resource: KEY_ARN,
      },
      {
        Sid: 'DecryptRelaySecrets',
        Effect: 'Allow',
        Action: 'kms:Decrypt',
        Resource: SECRET_KEY_ARN,
        Condition: {
          StringEquals: {
            'kms:ViaService': [
              { 'Fn::Join': ['', ['secretsmanager.', { Ref: 'AWS::Region' }, '.amazonaws.com']] },
              { 'Fn::Join': ['', ['ssm.', { Ref: 'AWS::Region' }, '.amazonaws.com']] },
            ],
          },
        },
      },
    ]);
  });

  it('the /mailrelay/ prefix form broke parameter keysources: IAM grants secrets and parameters the prefix without its leading slash, as the worker compares', () => {
    // Prepare
    const statements = rolePolicyStatements(synth.template('Encrypted'), stack('Encrypted'));
    const bySid = Object.fromEntries(statements.map((statement) => [statement.Sid, statement]));

    // Assess
    expect(JSON.stringify(bySid.ReadRelaySecrets?.Resource)).toContain('":secret:acme/mail/*"');
    expect(JSON.stringify(bySid.ReadRelayParameters?.Resource)).toContain('":parameter/acme/mail/*"');
    synth.template('Encrypted').hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({ SECRET_PREFIX: '/acme/mail/', POWERTOOLS_LOG_LEVEL: 'DEBUG', CONFIG_CACHE_TTL_SECONDS: '30' }),
      },
    });
  });

  it('never grants secretsmanager, ssm or kms actions on a "*" resource', () => {
    // Prepare
    const sensitive = policyStatements(synth.template('Encrypted')).filter((statement) =>
      [statement.Action].flat().some((action) => /^(secretsmanager|ssm|kms):/.test(String(action))),
    );

    // Assess
    expect(sensitive).toHaveLength(4);
    for (const statement of sensitive) expect([statement.Resource].flat()).not.toContain('*');
  });
});

describe('VPC placement', () => {
  it('places the function in the given subnets and security groups', () => {
    // Assess
    synth.template('InVpc').hasResourceProperties('AWS::Lambda::Function', {
      VpcConfig: {
        SubnetIds: ['subnet-0aaaaaaaaaaaaaaaa', 'subnet-0bbbbbbbbbbbbbbbb'],
        SecurityGroupIds: ['sg-0123456789abcdef0'],
      },
    });
    synth.template('InVpc').resourceCountIs('AWS::EC2::SecurityGroup', 0);
  });

  it('gives the role the AWS managed policy for network interfaces, acknowledged for cdk-nag', () => {
    // Assess
    synth.template('InVpc').hasResourceProperties('AWS::IAM::Role', {
      ManagedPolicyArns: [
        { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole']] },
      ],
    });
    expect(nagReport(stack('InVpc')).violations).toEqual([]);
  });
});

describe('event source and queue settings', () => {
  it('uses the batch size, batching window and maximum concurrency given', () => {
    // Assess
    synth.template('Notified').hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BatchSize: 50,
      MaximumBatchingWindowInSeconds: 5,
      ScalingConfig: { MaximumConcurrency: 20 },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });

  it('derives the visibility timeout from the function timeout and batching window, and uses maxReceiveCount', () => {
    // Prepare
    const template = synth.template('Notified');
    const deadLetterQueueId = logicalId(stack('Notified').queues.deadLetterQueue);

    // Assess
    template.hasResourceProperties('AWS::Lambda::Function', {
      Timeout: 30,
      Environment: { Variables: Match.objectLike({ MAX_RECEIVE_COUNT: '300' }) },
    });
    template.hasResourceProperties('AWS::SQS::Queue', {
      VisibilityTimeout: 6 * 30 + 5,
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [deadLetterQueueId, 'Arn'] }, maxReceiveCount: 300 },
    });
  });
});

describe('alarm notifications', () => {
  it('creates a TLS-only topic with the e-mail subscription, notified on ALARM and OK by every alarm', () => {
    // Prepare
    const template = synth.template('Notified');
    const topicId = logicalId(stack('Notified').alarms.topic as never);

    // Assess
    template.resourceCountIs('AWS::SNS::Topic', 1);
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com', TopicArn: { Ref: topicId } });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    template.resourceCountIs('AWS::CloudWatch::Alarm', 5);
    template.allResourcesProperties('AWS::CloudWatch::Alarm', { AlarmActions: [{ Ref: topicId }], OKActions: [{ Ref: topicId }] });
    expect(template.findOutputs('AlarmTopicArn').AlarmTopicArn?.Value).toEqual({ Ref: topicId });
  });

  it('names the dashboard when asked', () => {
    // Assess
    synth.template('Notified').hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'mailrelay-test' });
  });

  it('notifies an existing topic without creating one', () => {
    // Prepare
    const template = synth.template('ExistingTopic');

    // Assess
    template.resourceCountIs('AWS::SNS::Topic', 0);
    template.allResourcesProperties('AWS::CloudWatch::Alarm', { AlarmActions: [TOPIC_ARN], OKActions: [TOPIC_ARN] });
  });
});

describe('tracing, log format, tags, saved queries', () => {
  it('tracing: true turns on X-Ray active tracing (off by default), with its IAM statement acknowledged for cdk-nag', () => {
    // Assess
    synth.template('Observed').hasResourceProperties('AWS::Lambda::Function', { TracingConfig: { Mode: 'Active' } });
    const plain = synth.template('Encrypted').findResources('AWS::Lambda::Function');
    expect(Object.values(plain).map((r) => (r as { Properties: Record<string, unknown> }).Properties['TracingConfig'] ?? { Mode: 'PassThrough' })).toEqual([{ Mode: 'PassThrough' }]);
    expect(rolePolicyStatements(synth.template('Observed'), stack('Observed')).some((st) => JSON.stringify(st['Action']).includes('xray:PutTraceSegments'))).toBe(true);
  });

  it('logs in JSON with the application level of logLevel, never above INFO (the EMF metric lines have no level)', () => {
    // Assess
    synth.template('Encrypted').hasResourceProperties('AWS::Lambda::Function', { LoggingConfig: { LogFormat: 'JSON', ApplicationLogLevel: 'DEBUG', SystemLogLevel: 'INFO' } });
    synth.template('Observed').hasResourceProperties('AWS::Lambda::Function', { LoggingConfig: { LogFormat: 'JSON', ApplicationLogLevel: 'INFO', SystemLogLevel: 'INFO' } });
    const warnings = stack('Observed').node.findAll().flatMap((c) => c.node.metadata.filter((m) => m.type === 'aws:cdk:warning').map((m) => String(m.data)));
    expect(warnings.some((w) => w.includes('logLevel WARN'))).toBe(true);
  });

  it('puts the stack tags on the function, the queues and the tables', () => {
    // Assess
    const template = synth.template('Observed');
    for (const type of ['AWS::Lambda::Function', 'AWS::SQS::Queue', 'AWS::DynamoDB::Table']) {
      const resources = Object.values(template.findResources(type)) as { Properties: { Tags?: { Key: string; Value: string }[] } }[];
      expect(resources.length).toBeGreaterThan(0);
      for (const r of resources) expect(r.Properties.Tags).toEqual(expect.arrayContaining([{ Key: 'Team', Value: 'mail' }, { Key: 'CostCenter', Value: '42' }]));
    }
  });

  it('refuses a reserved or malformed tag, naming it', () => {
    expect(thrownBy(() => resolveMailrelayProps({ entry: FIXTURE_ENTRY, tags: { 'aws:owner': 'x' } })).message).toMatch(/tags\.aws:owner.*reserved/);
    expect(thrownBy(() => resolveMailrelayProps({ entry: FIXTURE_ENTRY, tags: { Team: 'x'.repeat(257) } })).message).toMatch(/tags\.Team.*256/);
    expect(thrownBy(() => resolveMailrelayProps({ entry: FIXTURE_ENTRY, tags: { 'a;b': 'x' } })).message).toMatch(/tags\.a;b/);
  });

  it('reads tracing and tags from context (cdk deploy -c tracing=true -c tags=Team=mail,CostCenter=42)', () => {
    // Act
    const context: Record<string, string> = { tracing: 'true', tags: 'Team=mail, CostCenter=42' };
    const { props } = readMailrelayContext((key) => context[key]);

    // Assess
    expect(props).toMatchObject({ tracing: true, tags: { Team: 'mail', CostCenter: '42' } });
    expect(thrownBy(() => readMailrelayContext((key) => (key === 'tags' ? 'Team' : undefined))).message).toContain('KEY=VALUE');
    expect(thrownBy(() => readMailrelayContext((key) => (key === 'tracing' ? 'yes' : undefined))).message).toContain('true or false');
  });

  it('saves the Logs Insights queries on the worker\'s log group, named after the stack', () => {
    // Prepare
    const template = synth.template('Observed');
    const logGroup = logicalId(stack('Observed').relayFunction.logGroup);

    // Assess
    const queries = Object.values(template.findResources('AWS::Logs::QueryDefinition')) as { Properties: { Name: string; QueryString: string; LogGroupNames: unknown[] } }[];
    expect(queries.map((q) => q.Properties.Name).sort()).toEqual(['Observed/dead-lettered-by-reason', 'Observed/deferred-by-reason', 'Observed/message-history', 'Observed/relay-suspensions']);
    for (const q of queries) expect(q.Properties.LogGroupNames).toEqual([{ Ref: logGroup }]);
    const text = (name: string) => queries.find((q) => q.Properties.Name === `Observed/${name}`)!.Properties.QueryString;
    expect(text('message-history')).toContain('filter idempotencyKey = "REPLACE-WITH-IDEMPOTENCY-KEY"');
    expect(text('dead-lettered-by-reason')).toMatch(/filter message = "dead-lettered"\n\| stats count\(\*\) as messages.* by reason/);
    expect(text('deferred-by-reason')).toContain('by reason, route');
    expect(text('relay-suspensions')).toContain('relay (suspended|recovered|refused)');
  });

  it('the dashboard shows in-flight messages and the dead-lettered / deferred tables', () => {
    // Assess
    const body = JSON.stringify(synth.template('Observed').findResources('AWS::CloudWatch::Dashboard'));
    expect(body).toContain('Dead-lettered messages by reason');
    expect(body).toContain('Deferred recipients by reason and route');
    expect(body).toContain('ApproximateNumberOfMessagesNotVisible');
  });
});

describe('cdk-nag', () => {
  it('finds nothing unacknowledged in any option set', () => {
    // Assess
    for (const stack of Object.values(synth.stacks)) {
      expect({ stack: stack.stackName, violations: nagReport(stack).violations }).toEqual({ stack: stack.stackName, violations: [] });
    }
  });

  it('fails synth on an unacknowledged finding (the plugin is wired as in infra/app.ts)', () => {
    // Prepare
    const app = new App({ context: cdkJsonContext(), builtinCloudFormationValidation: false });
    new Queue(new Stack(app, 'Insecure'), 'Queue', { encryption: QueueEncryption.UNENCRYPTED });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));

    // Act
    const error = thrownBy(() => app.synth());

    // Assess
    expect(error.message).toContain('AwsSolutions-SQS4');
    expect(error.message).toContain('AwsSolutions-SQS2');
  });
});
