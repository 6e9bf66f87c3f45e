import { CfnOutput, Stack, Tags, Token, Validations } from 'aws-cdk-lib';
import { SecurityGroup, Subnet, Vpc, type ISecurityGroup, type ISubnet, type IVpc, type SubnetSelection } from 'aws-cdk-lib/aws-ec2';
import { EventBus } from 'aws-cdk-lib/aws-events';
import { Role } from 'aws-cdk-lib/aws-iam';
import { Key, type IKey } from 'aws-cdk-lib/aws-kms';
import { Topic, type ITopic } from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { PayloadBucket } from './constructs/payloadBucket.js';
import { GatewayService } from './constructs/gatewayService.js';
import { RelayAlarms } from './constructs/relayAlarms.js';
import { RelayDashboard } from './constructs/relayDashboard.js';
import { RelayEvents } from './constructs/relayEvents.js';
import { RelayFunction } from './constructs/relayFunction.js';
import { RelayMetrics } from './constructs/relayMetrics.js';
import { RelayQueries } from './constructs/relayQueries.js';
import { RelayQueues } from './constructs/relayQueues.js';
import { RelayTables } from './constructs/relayTables.js';
import { STACK_OUTPUT, type StackOutputKey } from './constants.js';
import { MailrelayPropsError } from './errors.js';
import { resolveMailrelayProps, type MailrelayStackProps, type ResolvedMailrelayProps } from './mailrelayStackProps.js';

export type { MailrelayStackProps } from './mailrelayStackProps.js';

/**
 * The whole worker: queue and DLQ, config and idempotency tables, the
 * function with its event source and least-privilege role, a dashboard and
 * alarms. Props are checked before anything is built.
 *
 * @example
 * const app = new App();
 * new MailrelayStack(app, 'Mailrelay', { alarmEmail: 'ops@example.com', maxConcurrency: 10 });
 */
export class MailrelayStack extends Stack {
  /** Settings after defaults, as deployed. */
  public readonly settings: ResolvedMailrelayProps;
  public readonly queues: RelayQueues;
  public readonly tables: RelayTables;
  /** Bodies over the queue's limit, behind S3 pointers (docs/payloads.md). */
  public readonly payloads: PayloadBucket;
  public readonly relayFunction: RelayFunction;
  public readonly events: RelayEvents;
  public readonly alarms: RelayAlarms;
  public readonly dashboard: RelayDashboard;
  public readonly queries: RelayQueries;
  /** The SMTP submission gateway, when the `gateway` prop is set. */
  public readonly gateway?: GatewayService;

  public constructor(scope: Construct, id: string, props: MailrelayStackProps = {}) {
    const settings = resolveMailrelayProps(props);
    super(scope, id, props);
    this.settings = settings;
    // StackProps.tags are the stack's (CloudFormation propagates them at deploy); written on every
    // taggable resource too, so the template shows them and resources moved between stacks keep them.
    for (const [key, value] of Object.entries(settings.tags)) Tags.of(this).add(key, value);

    const encryptionKey = this.encryptionKey(props);
    const network = this.network(props);

    this.queues = new RelayQueues(this, 'Queues', {
      visibilityTimeout: settings.visibilityTimeout,
      retentionPeriod: settings.retentionPeriod,
      maxReceiveCount: settings.maxReceiveCount,
      ...(encryptionKey ? { encryptionKey } : {}),
    });
    const producerRoles = [
      ...(props.producerRoles ?? []),
      ...settings.producerRoleArns.map((arn, i) => Role.fromRoleArn(this, `ProducerRole${i}`, arn, { mutable: false })),
    ];
    this.queues.allowProducers(producerRoles);
    this.tables = new RelayTables(this, 'Tables', {
      ...(encryptionKey ? { encryptionKey } : {}),
      ...(settings.configTableName === undefined ? {} : { configTableName: settings.configTableName }),
    });

    this.relayFunction = new RelayFunction(this, 'Relay', {
      entry: settings.entry,
      timeout: settings.functionTimeout,
      memorySize: settings.memorySize,
      logRetention: settings.logRetention,
      logLevel: settings.logLevel,
      tracing: settings.tracing,
      serviceName: settings.serviceName,
      metricsNamespace: settings.metricsNamespace,
      configCacheTtl: settings.configCacheTtl,
      secretCacheTtl: settings.secretCacheTtl,
      ...(settings.authHook?.entry ? { authHookEntry: settings.authHook.entry } : {}),
      ...network,
    });
    this.relayFunction.bindConfigTable(this.tables.configTable);
    this.relayFunction.bindIdempotencyTable(this.tables.idempotencyTable);
    this.relayFunction.bindRelayStateTable(this.tables.relayStateTable);
    this.relayFunction.bindQueues(this.queues.queue, this.queues.deadLetterQueue, {
      batchSize: settings.batchSize,
      ...(settings.maxBatchingWindow ? { maxBatchingWindow: settings.maxBatchingWindow } : {}),
      maxConcurrency: settings.maxConcurrency,
      maxReceiveCount: settings.maxReceiveCount,
      retentionPeriod: settings.retentionPeriod,
    });
    this.relayFunction.bindSecrets(settings.secretPrefix, settings.secretKmsKeyArns);
    this.relayFunction.bindAuthHook(settings.authHook ?? {}, settings.authHookFunctionArns);

    this.payloads = new PayloadBucket(this, 'Payloads', encryptionKey ? { encryptionKey } : {});
    this.payloads.allowProducers(producerRoles);
    this.relayFunction.bindPayloadBucket(this.payloads);
    this.queries = new RelayQueries(this, 'Queries', { logGroup: this.relayFunction.logGroup, prefix: this.stackName });

    this.events = new RelayEvents(this, 'Events', {
      ...(props.eventBus ? { eventBus: props.eventBus } : settings.eventBusArn ? { eventBus: EventBus.fromEventBusArn(this, 'EventBus', settings.eventBusArn) } : {}),
      ...(settings.eventBusName === undefined ? {} : { eventBusName: settings.eventBusName }),
      exampleRule: settings.deliveryEventsExampleRule,
      logRetention: settings.logRetention,
    });
    this.relayFunction.bindEventBus(this.events.eventBus);

    const metrics = new RelayMetrics({ namespace: settings.metricsNamespace, serviceName: settings.serviceName });
    const topic = this.alarmTopic(props);
    this.alarms = new RelayAlarms(this, 'Alarms', {
      queue: this.queues.queue,
      deadLetterQueue: this.queues.deadLetterQueue,
      function: this.relayFunction.function,
      metrics,
      oldestMessageAgeThreshold: settings.oldestMessageAgeThreshold,
      authFailureThreshold: settings.authFailureThreshold,
      ...(topic ? { topic } : {}),
      ...(settings.alarmEmail === undefined ? {} : { email: settings.alarmEmail }),
    });
    this.dashboard = new RelayDashboard(this, 'Dashboard', {
      queue: this.queues.queue,
      deadLetterQueue: this.queues.deadLetterQueue,
      function: this.relayFunction.function,
      logGroup: this.relayFunction.logGroup,
      metrics,
      alarms: this.alarms.all,
      ...(settings.dashboardName === undefined ? {} : { dashboardName: settings.dashboardName }),
    });

    this.output(STACK_OUTPUT.queueUrl, this.queues.queue.queueUrl, 'Producers send messages here');
    this.output(STACK_OUTPUT.deadLetterQueueUrl, this.queues.deadLetterQueue.queueUrl, 'Failed messages, with their reason');
    this.output(STACK_OUTPUT.configTableName, this.tables.configTable.tableName, 'Config items (mailrelay config put)');
    this.output(STACK_OUTPUT.idempotencyTableName, this.tables.idempotencyTable.tableName, 'Idempotency records');
    this.output(STACK_OUTPUT.relayStateTableName, this.tables.relayStateTable.tableName, 'Relay suspensions shared by the fleet (mailrelay routes)');
    this.output(STACK_OUTPUT.functionName, this.relayFunction.function.functionName, 'The worker');
    this.output(STACK_OUTPUT.dashboardName, this.dashboard.dashboard.dashboardName, 'CloudWatch dashboard');
    this.output(STACK_OUTPUT.payloadBucketName, this.payloads.bucket.bucketName, 'Bodies over 256 KiB as SQS Extended Client S3 pointers (mailrelay enqueue --payload-bucket)');
    this.output(STACK_OUTPUT.eventBusArn, this.events.eventBus.eventBusArn, 'Delivery events (source "mailrelay"): add rules here');
    this.output(STACK_OUTPUT.secretPrefix, settings.secretPrefix, 'Secrets and SSM parameters the worker may read start with this');
    if (this.alarms.topic) this.output(STACK_OUTPUT.alarmTopicArn, this.alarms.topic.topicArn, 'Alarm notifications');

    if (settings.gateway) {
      this.gateway = new GatewayService(this, 'Gateway', {
        ...settings.gateway,
        queue: this.queues.queue,
        configTable: this.tables.configTable,
        payloadBucket: this.payloads.bucket,
        secretKmsKeyArns: settings.secretKmsKeyArns,
        logRetention: settings.logRetention,
        metricsNamespace: `${settings.metricsNamespace}/Gateway`,
        ...(network.vpc ? { vpc: network.vpc } : {}),
        ...(this.alarms.topic ? { topic: this.alarms.topic } : {}),
      });
      new CfnOutput(this, 'GatewayEndpoint', { value: this.gateway.loadBalancer.loadBalancerDnsName, description: 'SMTP submission (mailrelay gateway): STARTTLS on the submission port, implicit TLS on the other' });
      const taskRole = this.gateway.taskDefinition.taskRole;
      if (taskRole instanceof Role) {
        new CfnOutput(this, 'GatewayProducerId', { value: taskRole.roleId, description: "The gateway's producer id (SenderId): list it in a binding's producers to let the gateway send for it" });
      }
    }
  }

  private output(id: StackOutputKey, value: string, description: string): void {
    new CfnOutput(this, id, { value, description });
  }

  private encryptionKey(props: MailrelayStackProps): IKey | undefined {
    if (props.encryptionKey) return props.encryptionKey;
    return props.encryptionKeyArn === undefined ? undefined : Key.fromKeyArn(this, 'EncryptionKey', props.encryptionKeyArn);
  }

  private alarmTopic(props: MailrelayStackProps): ITopic | undefined {
    if (props.alarmTopic) return props.alarmTopic;
    return props.alarmTopicArn === undefined ? undefined : Topic.fromTopicArn(this, 'AlarmTopic', props.alarmTopicArn);
  }

  private importSubnet(subnetId: string, index: number): ISubnet {
    const subnet = Subnet.fromSubnetId(this, `Subnet${index}`, subnetId);
    Validations.of(subnet).acknowledge({
      id: 'Annotation::@aws-cdk/aws-ec2:noSubnetRouteTableId',
      reason: 'The function only needs the subnet ID; nothing here reads the route table.',
    });
    return subnet;
  }

  private network(props: MailrelayStackProps): { vpc?: IVpc; vpcSubnets?: SubnetSelection; securityGroups?: ISecurityGroup[] } {
    let vpc = props.vpc;
    if (props.vpcId !== undefined) {
      if (Token.isUnresolved(this.account) || Token.isUnresolved(this.region)) {
        throw new MailrelayPropsError(
          'vpcId',
          'looking up a VPC needs a stack with an explicit env (account and region): run cdk with credentials, or pass env',
        );
      }
      vpc = Vpc.fromLookup(this, 'Vpc', { vpcId: props.vpcId });
    }
    if (!vpc) return {};
    const vpcSubnets = props.vpcSubnets ?? (props.subnetIds ? { subnets: props.subnetIds.map((id, i) => this.importSubnet(id, i)) } : undefined);
    const securityGroups =
      props.securityGroups ??
      props.securityGroupIds?.map((groupId, i) => SecurityGroup.fromSecurityGroupId(this, `SecurityGroup${i}`, groupId, { mutable: false }));
    return {
      vpc,
      ...(vpcSubnets ? { vpcSubnets } : {}),
      ...(securityGroups ? { securityGroups } : {}),
    };
  }
}
