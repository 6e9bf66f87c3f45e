import { App, Duration, Stack, Validations } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { Vpc } from 'aws-cdk-lib/aws-ec2';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MailrelayStack } from '../../infra/mailrelayStack.js';
import { cdkJsonContext, logicalId, nagReport, policyStatements, rolePolicyStatements, synthApp, thrownBy, type SynthesizedApp } from './helpers.js';

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
