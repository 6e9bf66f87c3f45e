import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  acknowledgedRules,
  logicalId,
  nagReport,
  normalizedTemplate,
  policyStatements,
  rolePolicyStatements,
  synthMailrelay,
  type SynthesizedMailrelay,
} from './helpers.js';

// One synth of the stack with its defaults, shared by every test of this file.
let synth: SynthesizedMailrelay;
let queueId: string;
let deadLetterQueueId: string;
let configTableId: string;
let idempotencyTableId: string;

beforeAll(() => {
  synth = synthMailrelay();
  queueId = logicalId(synth.stack.queues.queue);
  deadLetterQueueId = logicalId(synth.stack.queues.deadLetterQueue);
  configTableId = logicalId(synth.stack.tables.configTable);
  idempotencyTableId = logicalId(synth.stack.tables.idempotencyTable);
});

afterAll(() => synth.cleanup());

const partitionArn = (service: string, resource: string) => ({
  'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:${service}:`, { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, resource]],
});

describe('event source mapping', () => {
  it('reports batch item failures, with the default batch size and maximum concurrency and no batching window', () => {
    // Assess
    synth.template.resourceCountIs('AWS::Lambda::EventSourceMapping', 1);
    synth.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [queueId, 'Arn'] },
      FunctionName: { Ref: logicalId(synth.stack.relayFunction.function) },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BatchSize: 10,
      MaximumBatchingWindowInSeconds: Match.absent(),
      ScalingConfig: { MaximumConcurrency: 5 },
    });
  });
});

describe('queues', () => {
  it('redrives to the dead-letter queue after maxReceiveCount receives', () => {
    // Assess
    synth.template.hasResourceProperties('AWS::SQS::Queue', {
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [deadLetterQueueId, 'Arn'] }, maxReceiveCount: 204 },
    });
  });

  it('gives the queue a visibility timeout of 6 × the function timeout, 1 MiB messages and SQS-managed encryption', () => {
    // Assess
    const queue = synth.template.toJSON().Resources[queueId];
    expect(queue.Properties).toEqual({
      VisibilityTimeout: 360,
      MessageRetentionPeriod: 345_600,
      MaximumMessageSize: 1_048_576,
      SqsManagedSseEnabled: true,
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [deadLetterQueueId, 'Arn'] }, maxReceiveCount: 204 },
    });
  });

  it('keeps dead letters 14 days, encrypted, with 1 MiB messages', () => {
    // Assess
    const deadLetterQueue = synth.template.toJSON().Resources[deadLetterQueueId];
    expect(deadLetterQueue.Properties).toEqual({
      MessageRetentionPeriod: 1_209_600,
      MaximumMessageSize: 1_048_576,
      SqsManagedSseEnabled: true,
    });
  });

  it.each([
    ['queue', () => queueId],
    ['dead-letter queue', () => deadLetterQueueId],
  ])('denies every request to the %s that is not over TLS', (_name, id) => {
    // Assess
    synth.template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: id() }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 'sqs:*',
            Principal: { AWS: '*' },
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });
});

describe('tables', () => {
  it('creates the config table keyed by scope, encrypted, with point-in-time recovery, retained on delete', () => {
    // Assess
    synth.template.hasResource('AWS::DynamoDB::Table', {
      Properties: {
        KeySchema: [{ AttributeName: 'scope', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'scope', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
        SSESpecification: { SSEEnabled: true },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      },
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
    expect(synth.template.toJSON().Resources[configTableId].Properties.KeySchema[0].AttributeName).toBe('scope');
  });

  it('creates the idempotency table keyed by id, encrypted, expiring items by expiresAt', () => {
    // Assess
    const table = synth.template.toJSON().Resources[idempotencyTableId];
    expect(table.Properties).toEqual({
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
      SSESpecification: { SSEEnabled: true },
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    });
    expect(table.DeletionPolicy).toBe('Delete');
  });
});

describe('function', () => {
  it('runs Node.js 24 on arm64 with its own log group and the environment the worker reads', () => {
    // Assess
    synth.template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      Timeout: 60,
      MemorySize: 512,
      LoggingConfig: { LogGroup: { Ref: logicalId(synth.stack.relayFunction.logGroup) } },
    });
    const fn = synth.template.toJSON().Resources[logicalId(synth.stack.relayFunction.function)];
    expect(fn.Properties.Environment.Variables).toEqual({
      CONFIG_TABLE_NAME: { Ref: configTableId },
      IDEMPOTENCY_TABLE_NAME: { Ref: idempotencyTableId },
      RELAY_STATE_TABLE_NAME: { Ref: logicalId(synth.stack.tables.relayStateTable) },
      QUEUE_URL: { Ref: queueId },
      DEAD_LETTER_QUEUE_URL: { Ref: deadLetterQueueId },
      MAX_RECEIVE_COUNT: '204',
      QUEUE_RETENTION_SECONDS: '345600',
      SECRET_PREFIX: 'mailrelay/',
      EVENT_BUS_NAME: { 'Fn::GetAtt': [logicalId(synth.stack.events.eventBus), 'Arn'] },
      CONFIG_CACHE_TTL_SECONDS: '60',
      SECRET_CACHE_TTL_SECONDS: '300',
      POWERTOOLS_SERVICE_NAME: 'mailrelay',
      POWERTOOLS_METRICS_NAMESPACE: 'Mailrelay',
      POWERTOOLS_LOG_LEVEL: 'INFO',
      PAYLOAD_BUCKET_NAME: { Ref: logicalId(synth.stack.payloads.bucket) },
    });
    synth.template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });

  it('is bundled by local esbuild as minified ESM with a require shim and a source map', () => {
    // Prepare
    const assetDirs = readdirSync(synth.outdir).filter((name) => name.startsWith('asset.'));

    // Assess
    expect(assetDirs).toHaveLength(1);
    const bundleDir = join(synth.outdir, assetDirs[0] ?? '');
    const bundle = readFileSync(join(bundleDir, 'index.mjs'), 'utf8');
    expect(bundle.startsWith("import { createRequire } from 'module';const require = createRequire(import.meta.url);")).toBe(true);
    expect(bundle).toContain('batchItemFailures');
    expect(bundle).toMatch(/\/\/# sourceMappingURL=index\.mjs\.map\s*$/);
    expect(existsSync(join(bundleDir, 'index.mjs.map'))).toBe(true);
  });
});

describe('IAM', () => {
  it('grants the worker role exactly what the worker needs', () => {
    // Assess
    const statements = rolePolicyStatements(synth.template, synth.stack);
    expect(statements).toEqual([
      {
        Effect: 'Allow',
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        Resource: { 'Fn::GetAtt': [logicalId(synth.stack.relayFunction.logGroup), 'Arn'] },
      },
      {
        Sid: 'ReadConfigTable',
        Effect: 'Allow',
        // The config store makes one call, BatchGetItem; GetItem and Query were granted but never called (issue 14).
        Action: 'dynamodb:BatchGetItem',
        Resource: { 'Fn::GetAtt': [configTableId, 'Arn'] },
      },
      {
        Sid: 'UseIdempotencyTable',
        Effect: 'Allow',
        // The idempotency store claims with UpdateItem, settles a batch with BatchWriteItem (one entry alone with UpdateItem) and reads with GetItem; PutItem and DeleteItem were never called.
        Action: ['dynamodb:BatchWriteItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem'],
        Resource: { 'Fn::GetAtt': [idempotencyTableId, 'Arn'] },
      },
      {
        Sid: 'UseRelayStateTable',
        Effect: 'Allow',
        Action: ['dynamodb:BatchGetItem', 'dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
        Resource: { 'Fn::GetAtt': [logicalId(synth.stack.tables.relayStateTable), 'Arn'] },
      },
      {
        Effect: 'Allow',
        Action: ['sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:ReceiveMessage'],
        Resource: { 'Fn::GetAtt': [queueId, 'Arn'] },
      },
      {
        Sid: 'SendToDeadLetterQueue',
        Effect: 'Allow',
        Action: 'sqs:SendMessage',
        Resource: { 'Fn::GetAtt': [deadLetterQueueId, 'Arn'] },
      },
      {
        Sid: 'ReadRelaySecrets',
        Effect: 'Allow',
        Action: 'secretsmanager:GetSecretValue',
        Resource: partitionArn('secretsmanager', ':secret:mailrelay/*'),
      },
      {
        Sid: 'ReadRelayParameters',
        Effect: 'Allow',
        Action: 'ssm:GetParameter',
        Resource: partitionArn('ssm', ':parameter/mailrelay/*'),
      },
      {
        Sid: 'ReadAndDeletePayloads',
        Effect: 'Allow',
        Action: ['s3:DeleteObject', 's3:GetObject'],
        Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [logicalId(synth.stack.payloads.bucket), 'Arn'] }, '/*']] },
      },
      {
        Sid: 'PutDeliveryEvents',
        Effect: 'Allow',
        // The stack's bus and nothing else (docs/design.md §3).
        Action: 'events:PutEvents',
        Resource: { 'Fn::GetAtt': [logicalId(synth.stack.events.eventBus), 'Arn'] },
      },
    ]);
    synth.template.resourceCountIs('AWS::IAM::Policy', 1);
    synth.template.hasResourceProperties('AWS::IAM::Role', { ManagedPolicyArns: Match.absent() });
  });

  it('never grants secretsmanager, ssm or kms actions on a "*" resource', () => {
    // Prepare
    const sensitive = policyStatements(synth.template).filter((statement) =>
      [statement.Action].flat().some((action) => /^(secretsmanager|ssm|kms):/.test(String(action))),
    );

    // Assess
    expect(sensitive.length).toBeGreaterThan(0);
    for (const statement of sensitive) {
      const resources = [statement.Resource].flat();
      expect(resources).not.toContain('*');
      expect(JSON.stringify(resources)).not.toMatch(/:secret:\*|:parameter\/\*/);
    }
  });
});

describe('alarms and dashboard', () => {
  it('creates the five alarms, on the right metrics, without actions when no topic or e-mail is set', () => {
    // Assess
    synth.template.resourceCountIs('AWS::CloudWatch::Alarm', 5);
    const expectations = [
      { MetricName: 'ApproximateNumberOfMessagesVisible', Namespace: 'AWS/SQS', Threshold: 1, Statistic: 'Maximum' },
      { MetricName: 'ApproximateAgeOfOldestMessage', Namespace: 'AWS/SQS', Threshold: 1800, Statistic: 'Maximum' },
      { MetricName: 'Errors', Namespace: 'AWS/Lambda', Threshold: 1, Statistic: 'Sum' },
      { MetricName: 'Throttles', Namespace: 'AWS/Lambda', Threshold: 1, Statistic: 'Sum' },
      {
        MetricName: 'AuthFailed',
        Namespace: 'Mailrelay',
        Threshold: 1,
        Statistic: 'Sum',
        Dimensions: [{ Name: 'service', Value: 'mailrelay' }],
      },
    ];
    for (const expected of expectations) {
      synth.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        ...expected,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        EvaluationPeriods: 1,
        Period: 300,
        TreatMissingData: 'notBreaching',
        AlarmDescription: Match.stringLikeRegexp('^mailrelay: '),
        AlarmActions: Match.absent(),
      });
    }
    synth.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [deadLetterQueueId, 'QueueName'] } }],
    });
    synth.template.resourceCountIs('AWS::SNS::Topic', 0);
  });

  it('creates a dashboard with the worker, queue and function metrics', () => {
    // Prepare
    synth.template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    const body = JSON.stringify(Object.values(synth.template.findResources('AWS::CloudWatch::Dashboard'))[0]);

    // Assess
    for (const text of [
      'Mailrelay',
      'Delivered',
      'Deferred',
      'Failed',
      'AuthFailed',
      'DeliveryDuration',
      'p50',
      'p99',
      'ApproximateNumberOfMessagesVisible',
      'ApproximateAgeOfOldestMessage',
      'AWS/Lambda',
      'Errors',
      'Throttles',
      'Duration',
      'alarm',
    ]) {
      expect(body).toContain(text);
    }
  });
});

describe('outputs', () => {
  it('outputs the queue URLs, table names, function name and dashboard name', () => {
    // Assess
    const outputs = synth.template.findOutputs('*');
    expect(Object.keys(outputs).sort()).toEqual([
      'ConfigTableName',
      'DashboardName',
      'DeadLetterQueueUrl',
      'EventBusArn',
      'FunctionName',
      'IdempotencyTableName',
      'PayloadBucketName',
      'QueueUrl',
      'RelayStateTableName',
      'SecretPrefix',
    ]);
    expect(outputs.QueueUrl?.Value).toEqual({ Ref: queueId });
    expect(outputs.DeadLetterQueueUrl?.Value).toEqual({ Ref: deadLetterQueueId });
    expect(outputs.ConfigTableName?.Value).toEqual({ Ref: configTableId });
  });
});

describe('delivery events', () => {
  it('creates a bus and an example rule: undelivered recipients to a log group EventBridge may write to, for that rule only', () => {
    // Prepare
    const busId = logicalId(synth.stack.events.eventBus);
    const ruleId = logicalId(synth.stack.events.undeliveredRule!);
    const logId = logicalId(synth.stack.events.undeliveredLogGroup!);

    // Assess
    synth.template.resourceCountIs('AWS::Events::EventBus', 1);
    synth.template.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: { Ref: busId },
      EventPattern: { source: ['mailrelay'], 'detail-type': ['Recipient Bounced', 'Recipient Dead-Lettered', 'Recipient Expired'] },
      State: 'ENABLED',
      Targets: [Match.objectLike({ Arn: Match.objectLike({ 'Fn::Join': Match.arrayWith([Match.arrayWith([':log-group:', { Ref: logId }])]) }) })],
    });
    synth.template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    const [policy] = Object.values(synth.template.findResources('AWS::Logs::ResourcePolicy')) as { Properties: { PolicyDocument: unknown } }[];
    const document = JSON.stringify(synth.stack.resolve(policy!.Properties.PolicyDocument));
    expect(document).toContain('events.amazonaws.com');
    expect(document).toContain('logs:PutLogEvents');
    expect(document).toContain(ruleId); // aws:SourceArn: only this rule may write
    expect(document).toContain(logId);
  });

  it('takes an existing bus instead, by ARN, and grants PutEvents on it only; the example rule can be left out', () => {
    // Prepare
    const arn = 'arn:aws:events:eu-west-1:111122223333:event-bus/shared-mail';
    const other = synthMailrelay({ eventBusArn: arn, deliveryEventsExampleRule: false });

    try {
      // Assess
      other.template.resourceCountIs('AWS::Events::EventBus', 0);
      other.template.resourceCountIs('AWS::Events::Rule', 0);
      other.template.resourceCountIs('AWS::Logs::ResourcePolicy', 0);
      const statements = rolePolicyStatements(other.template, other.stack);
      expect(statements.filter((s) => JSON.stringify(s.Action).includes('events:'))).toEqual([{ Sid: 'PutDeliveryEvents', Effect: 'Allow', Action: 'events:PutEvents', Resource: arn }]);
      const fn = other.template.toJSON().Resources[logicalId(other.stack.relayFunction.function)];
      expect(fn.Properties.Environment.Variables.EVENT_BUS_NAME).toBe(arn);
      expect(nagReport(other.stack).violations).toEqual([]);
    } finally {
      other.cleanup();
    }
  });
});

describe('cdk-nag', () => {
  it('finds nothing unacknowledged in the AwsSolutions pack', () => {
    // Act
    const report = nagReport(synth.stack);

    // Assess
    expect(report.violations).toEqual([]);
    expect(report.success).toBe(true);
  });

  it('acknowledges only the findings it explains, each with a reason', () => {
    // Act
    const rules = acknowledgedRules(synth.stack);

    // Assess
    expect(Object.keys(rules).sort()).toEqual([
      'Mailrelay/Payloads/Bucket AwsSolutions-S1',
      'Mailrelay/Relay/Role AwsSolutions-IAM5[Resource::<PayloadsBucket1715615A.Arn>/*]',
      'Mailrelay/Relay/Role AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:mailrelay/*]',
      'Mailrelay/Relay/Role AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter/mailrelay/*]',
      'Mailrelay/Tables/IdempotencyTable AwsSolutions-DDB3',
      'Mailrelay/Tables/RelayStateTable AwsSolutions-DDB3',
    ]);
    for (const reason of Object.values(rules)) expect(reason.length).toBeGreaterThan(40);
  });
});

describe('template', () => {
  it('matches the snapshot', () => {
    // Assess
    expect(normalizedTemplate(synth.template)).toMatchSnapshot();
  });
});
