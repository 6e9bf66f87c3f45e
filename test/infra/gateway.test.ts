/**
 * The optional gateway service (`gateway` prop): synthesized with cdk-nag (synth throws on any
 * finding not acknowledged), without Docker (the image is a reference), and asserted where it
 * matters: the task role's exact IAM, the listeners and their health check, scaling, alarms.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AttributeType, Table } from 'aws-cdk-lib/aws-dynamodb';
import { Key } from 'aws-cdk-lib/aws-kms';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Bucket, BucketEncryption } from 'aws-cdk-lib/aws-s3';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readMailrelayContext, type MailrelayContextKey } from '../../infra/context.js';
import { MailrelayPropsError } from '../../infra/errors.js';
import { GatewayService } from '../../infra/constructs/gatewayService.js';
import { resolveGatewayProps, type GatewayStackProps } from '../../infra/gatewayProps.js';
import { MailrelayStack } from '../../infra/mailrelayStack.js';
import { FIXTURE_ENTRY, logicalId, synthApp, thrownBy, type SynthesizedApp } from './helpers.js';

const IMAGE = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/mailrelay:1.2.3';
const GATEWAY: GatewayStackProps = { image: IMAGE, tlsCert: 'secret:mailrelay/gateway/tls#cert', tlsKey: 'secret:mailrelay/gateway/tls#key' };
const KEY_ARN = 'arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555';

let synth: SynthesizedApp;
let template: Template;
let stack: MailrelayStack;

beforeAll(() => {
  synth = synthApp({ Gateway: { gateway: GATEWAY, alarmEmail: 'ops@example.com' }, Plain: {}, GatewayKms: { gateway: GATEWAY, encryptionKeyArn: KEY_ARN } }, { cloudFormationValidation: false });
  template = synth.template('Gateway');
  stack = synth.stacks['Gateway']!;
});
afterAll(() => synth?.cleanup());

function statementsOf(roleLogicalId: string, of: Template = template): Array<Record<string, unknown>> {
  const policies = of.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: roleLogicalId }] } });
  return Object.values(policies).flatMap((p) => (p as { Properties: { PolicyDocument: { Statement: Array<Record<string, unknown>> } } }).Properties.PolicyDocument.Statement);
}

describe('gateway service', () => {
  it('is absent unless the gateway prop is set', () => {
    const plain = synth.template('Plain');
    plain.resourceCountIs('AWS::ECS::Service', 0);
    plain.resourceCountIs('AWS::ElasticLoadBalancingV2::LoadBalancer', 0);
  });

  it('an internet-facing NLB listens on 587 and 465 (TCP) and forwards to unprivileged container ports, client addresses preserved, HTTP health check', () => {
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', { Type: 'network', Scheme: 'internet-facing' });
    template.resourceCountIs('AWS::ElasticLoadBalancingV2::Listener', 2);
    for (const [port, containerPort] of [
      [587, 2587],
      [465, 2465],
    ]) {
      template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Port: port, Protocol: 'TCP' });
      template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
        Port: containerPort,
        Protocol: 'TCP',
        TargetType: 'ip',
        HealthCheckProtocol: 'HTTP',
        HealthCheckPort: '8025',
        HealthCheckPath: '/health',
        TargetGroupAttributes: Match.arrayWith([{ Key: 'preserve_client_ip.enabled', Value: 'true' }]),
      });
    }
  });

  it('runs the image by reference (no asset, no Docker at synth) as `gateway`, arm64, with its own log group and no secret in the environment', () => {
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      RuntimePlatform: { CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' },
      ContainerDefinitions: [
        Match.objectLike({
          Image: IMAGE,
          Command: ['gateway'],
          LogConfiguration: Match.objectLike({ LogDriver: 'awslogs', Options: Match.objectLike({ 'awslogs-group': { Ref: logicalId(stack.gateway!.logGroup) } }) }),
          Environment: Match.arrayWith([
            { Name: 'MAILRELAY_PAYLOAD_BUCKET', Value: { Ref: logicalId(stack.payloads.bucket) } },
            { Name: 'MAILRELAY_SECRET_PREFIX', Value: 'mailrelay/gateway/' },
            { Name: 'MAILRELAY_GATEWAY_PORT', Value: '2587' },
            { Name: 'MAILRELAY_GATEWAY_TLS_PORT', Value: '2465' },
            { Name: 'MAILRELAY_GATEWAY_TLS_KEY', Value: 'secret:mailrelay/gateway/tls#key' },
            { Name: 'MAILRELAY_GATEWAY_METRICS_NAMESPACE', Value: 'Mailrelay/Gateway' },
          ]),
        }),
      ],
    });
    expect(JSON.stringify(template.toJSON())).not.toMatch(/BEGIN (RSA |EC )?PRIVATE KEY/);
    const assets = Object.keys(template.toJSON()['Parameters'] ?? {}).filter((name) => /AssetParameters|ImageUri/.test(name));
    expect(assets).toEqual([]);
  });

  it('the task role can send to the queue, put payload objects, read submitter items and read keysources under the gateway prefix: nothing more', () => {
    const statements = statementsOf(logicalId(stack.gateway!.taskDefinition.taskRole));
    expect(statements).toEqual([
      { Sid: 'SendToQueue', Effect: 'Allow', Action: 'sqs:SendMessage', Resource: { 'Fn::GetAtt': [logicalId(stack.queues.queue), 'Arn'] } },
      // Objects only, write only: no GetObject, no DeleteObject, nothing on the bucket itself.
      { Sid: 'PutPayloads', Effect: 'Allow', Action: 's3:PutObject', Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [logicalId(stack.payloads.bucket), 'Arn'] }, '/*']] } },
      {
        Sid: 'ReadSubmitterItems',
        Effect: 'Allow',
        Action: ['dynamodb:BatchGetItem', 'dynamodb:GetItem'],
        Resource: { 'Fn::GetAtt': [logicalId(stack.tables.configTable), 'Arn'] },
        Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['submitter#*'] } },
      },
      {
        Sid: 'ReadGatewaySecrets',
        Effect: 'Allow',
        Action: 'secretsmanager:GetSecretValue',
        Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':secretsmanager:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':secret:mailrelay/gateway/*']] },
      },
      {
        Sid: 'ReadGatewayParameters',
        Effect: 'Allow',
        Action: 'ssm:GetParameter',
        Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ssm:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':parameter/mailrelay/gateway/*']] },
      },
    ]);
  });

  it('with an encryption key, the task role may make data keys with it (the SSE-KMS PutObject)', () => {
    const kms = synth.stacks['GatewayKms']!;
    const statements = statementsOf(logicalId(kms.gateway!.taskDefinition.taskRole), synth.template('GatewayKms'));
    const keyStatements = statements.filter((s) => JSON.stringify(s['Action']).includes('kms:'));
    expect(keyStatements.every((s) => s['Resource'] === KEY_ARN)).toBe(true);
    expect(keyStatements.flatMap((s) => [s['Action']].flat())).toContain('kms:GenerateDataKey');
    expect(statements.find((s) => s['Sid'] === 'PutPayloads')).toMatchObject({ Action: 's3:PutObject' });
  });

  it('the payload bucket\'s own key is granted for GenerateDataKey only, even when the queue uses no key', () => {
    // The construct alone: a KMS bucket beside an unencrypted queue, so no other grant covers the key.
    const scope = new Stack(new App(), 'Construct', { env: { account: '123456789012', region: 'eu-west-1' } });
    const bucketKey = new Key(scope, 'BucketKey');
    const payloadBucket = new Bucket(scope, 'Payloads', { encryption: BucketEncryption.KMS, encryptionKey: bucketKey });
    const gateway = new GatewayService(scope, 'Gateway', {
      ...resolveGatewayProps(GATEWAY, 'mailrelay/'),
      queue: new Queue(scope, 'Queue', { encryption: QueueEncryption.SQS_MANAGED }),
      configTable: new Table(scope, 'Config', { partitionKey: { name: 'scope', type: AttributeType.STRING } }),
      payloadBucket,
      secretKmsKeyArns: [],
      logRetention: RetentionDays.ONE_MONTH,
      metricsNamespace: 'Mailrelay/Gateway',
    });
    const statements = statementsOf(logicalId(gateway.taskDefinition.taskRole), Template.fromStack(scope));
    const keyStatements = statements.filter((s) => JSON.stringify(s['Action']).includes('kms:'));
    expect(keyStatements).toEqual([{ Effect: 'Allow', Action: 'kms:GenerateDataKey', Resource: { 'Fn::GetAtt': [logicalId(bucketKey), 'Arn'] } }]);
  });

  it('the execution role pulls from the image repository only (plus the token call, which has no resource)', () => {
    const statements = statementsOf(logicalId(stack.gateway!.taskDefinition.executionRole!));
    const ecr = statements.filter((s) => JSON.stringify(s['Action']).includes('ecr:'));
    expect(ecr).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ Action: expect.arrayContaining(['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer']), Resource: expect.objectContaining({ 'Fn::Join': expect.anything() }) }),
        expect.objectContaining({ Action: 'ecr:GetAuthorizationToken', Resource: '*' }),
      ]),
    );
    expect(JSON.stringify(ecr)).toContain(':123456789012:repository/mailrelay');
  });

  it('scales on open connections per task (the EMF metric the gateway writes)', () => {
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', { MinCapacity: 2, MaxCapacity: 6 });
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      PolicyType: 'TargetTrackingScaling',
      TargetTrackingScalingPolicyConfiguration: Match.objectLike({
        TargetValue: 100,
        CustomizedMetricSpecification: Match.objectLike({ MetricName: 'ActiveConnections', Namespace: 'Mailrelay/Gateway', Statistic: 'Average', Dimensions: [{ Name: 'Service', Value: 'mailrelay-gateway' }] }),
      }),
    });
  });

  it('counts auth failures and 4xx replies from its logs, and alarms on them and on no healthy task, notifying the topic', () => {
    template.hasResourceProperties('AWS::Logs::MetricFilter', { FilterPattern: '{ $.event = "auth-failed" }', MetricTransformations: [Match.objectLike({ MetricName: 'AuthFailures', MetricNamespace: 'Mailrelay/Gateway' })] });
    template.hasResourceProperties('AWS::Logs::MetricFilter', { FilterPattern: '{ ($.code >= 400) && ($.code < 500) }', MetricTransformations: [Match.objectLike({ MetricName: 'Replies4xx' })] });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'AuthFailures', Namespace: 'Mailrelay/Gateway', Statistic: 'Sum', Period: 300, Threshold: 20, ComparisonOperator: 'GreaterThanOrEqualToThreshold', AlarmActions: [Match.anyValue()] });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Threshold: 10,
      ComparisonOperator: 'GreaterThanThreshold',
      Metrics: Match.arrayWith([Match.objectLike({ Expression: 'IF(replies > 0, 100 * r4xx / replies, 0)' })]),
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'HealthyHostCount', Namespace: 'AWS/NetworkELB', Threshold: 1, ComparisonOperator: 'LessThanThreshold' });
  });

  it('outputs the endpoint', () => {
    template.hasOutput('GatewayEndpoint', { Value: { 'Fn::GetAtt': [logicalId(stack.gateway!.loadBalancer), 'DNSName'] } });
  });
});

describe('gateway props', () => {
  const fails = (gateway: Partial<GatewayStackProps>): string => thrownBy(() => new MailrelayStack(new App(), 'X', { entry: FIXTURE_ENTRY, gateway: { ...GATEWAY, ...gateway } as GatewayStackProps })).message;

  it.each<[string, Partial<GatewayStackProps>, RegExp]>([
    ['a key outside the gateway prefix (IAM would refuse it)', { tlsKey: 'secret:mailrelay/relay-creds#key' }, /invalid gateway\.tlsKey: .* outside the gateway's secret prefix "mailrelay\/gateway\/"/],
    ['an inline private key', { tlsKey: '{"value":"-----BEGIN PRIVATE KEY-----"}' }, /invalid gateway\.tlsKey: must not be an inline value/],
    ['an image without tag or digest', { image: 'mailrelay' }, /invalid gateway\.image/],
    ['the health port on a listener port', { healthPort: 2587 }, /invalid gateway\.healthPort/],
    ['maxCapacity below minCapacity', { minCapacity: 4, maxCapacity: 2 }, /invalid gateway\.maxCapacity: 2 is below minCapacity \(4\)/],
    ['a bad CIDR', { allowedCidrs: ['10.0.0.0/33'] }, /invalid gateway\.allowedCidrs\[0\]/],
    ['a CPU size Fargate does not have', { cpu: 300 }, /invalid gateway\.cpu/],
  ])('refuses %s', (_what, gateway, message) => {
    expect(fails(gateway)).toMatch(message);
  });

  it('context keys turn the gateway on', () => {
    const context: Partial<Record<MailrelayContextKey, string>> = { gatewayImage: IMAGE, gatewayTlsCert: GATEWAY.tlsCert, gatewayTlsKey: GATEWAY.tlsKey, gatewayMaxCapacity: '4' };
    expect(readMailrelayContext((key) => context[key]).props.gateway).toEqual({ ...GATEWAY, maxCapacity: 4 });
    expect(readMailrelayContext(() => undefined).props.gateway).toBeUndefined();
    expect(() => readMailrelayContext((key) => (key === 'gatewayTlsCert' ? 'secret:x' : undefined))).toThrow(MailrelayPropsError);
  });
});
