import { ArnFormat, Duration, Stack, Validations } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, MathExpression, Metric, Stats, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { FlowLogDestination, Peer, Port, SecurityGroup, SubnetType, Vpc, type IVpc, type SubnetSelection } from 'aws-cdk-lib/aws-ec2';
import { Repository } from 'aws-cdk-lib/aws-ecr';
import {
  Cluster,
  ContainerImage,
  ContainerInsights,
  CpuArchitecture,
  FargateService,
  FargateTaskDefinition,
  LogDrivers,
  OperatingSystemFamily,
  Protocol as EcsProtocol,
} from 'aws-cdk-lib/aws-ecs';
import { NetworkLoadBalancer, Protocol, type NetworkListener, type NetworkTargetGroup } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { FilterPattern, LogGroup, MetricFilter, type IFilterPattern, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import {
  ACTIVE_CONNECTIONS_METRIC,
  CONTAINER_IMPLICIT_TLS_PORT,
  CONTAINER_SUBMISSION_PORT,
  GATEWAY_ENV, GATEWAY_EVENT, GATEWAY_METRICS_DIMENSION, GATEWAY_METRICS_SERVICE, HEALTH_PATH } from '../../cli/gateway/names.js';
import { ENV as CLI_ENV } from '../../cli/target.js';
import { parameterArnPrefix } from '../mailrelayStackProps.js';
import { nagResourceText } from '../nagFinding.js';
import type { ResolvedGatewayProps } from '../gatewayProps.js';

const ALARM_PERIOD = Duration.minutes(5);

/** Metrics the gateway's log group yields through metric filters. */
export const GATEWAY_LOG_METRIC = { authFailures: 'AuthFailures', replies4xx: 'Replies4xx', replies: 'Replies' } as const;

/**
 * Props of {@link GatewayService}: the gateway's resolved settings (infra/gatewayProps.ts) and the
 * stack's resources it uses. Every value is already checked (mailrelayStackProps.ts).
 */
export interface GatewayServiceProps extends ResolvedGatewayProps {
  readonly queue: IQueue;
  readonly configTable: ITable;
  /** The stack's payload bucket: bodies over 256 KiB go there first, behind an SQS Extended Client pointer. */
  readonly payloadBucket: IBucket;
  /** Customer-managed keys of the secrets under `secretPrefix`: `kms:Decrypt` through Secrets Manager and SSM only. */
  readonly secretKmsKeyArns: readonly string[];
  readonly logRetention: RetentionDays;
  /** Namespace of the gateway's metrics (EMF and metric filters). */
  readonly metricsNamespace: string;
  /** @default - a new VPC: two AZs, public subnets only (no NAT), flow logs */
  readonly vpc?: IVpc;
  readonly topic?: ITopic;
}

/**
 * `mailrelay gateway` as a service (docs/design.md §3.1): ECS Fargate tasks behind an
 * internet-facing Network Load Balancer (TCP 587 and 465, client addresses preserved so the AUTH
 * failure throttle sees them), an HTTP health check on its own port, autoscaling on open
 * connections per task, its own log group with metric filters, alarms, and a task role that can
 * send to the queue, put objects in the payload bucket, read submitter items and read keysources
 * under its prefix, nothing more.
 */
export class GatewayService extends Construct {
  public readonly vpc: IVpc;
  public readonly cluster: Cluster;
  public readonly taskDefinition: FargateTaskDefinition;
  public readonly service: FargateService;
  public readonly loadBalancer: NetworkLoadBalancer;
  public readonly listeners: NetworkListener[] = [];
  public readonly targetGroups: NetworkTargetGroup[] = [];
  public readonly logGroup: LogGroup;
  public readonly securityGroup: SecurityGroup;
  /** Too many failed logins: guessing, or a submitter with a stale password. */
  public readonly authFailures: Alarm;
  /** Clients are told to try again (451 queue failures, 454 AUTH unavailable or locked out, 452). */
  public readonly replies4xxRate: Alarm;
  /** No task passes the load balancer's health check on the submission port. */
  public readonly noHealthyTasks: Alarm;

  public constructor(scope: Construct, id: string, props: GatewayServiceProps) {
    super(scope, id);
    this.vpc = props.vpc ?? this.newVpc();
    this.cluster = new Cluster(this, 'Cluster', { vpc: this.vpc, containerInsightsV2: ContainerInsights.ENABLED });
    this.logGroup = new LogGroup(this, 'Logs', { retention: props.logRetention });

    this.taskDefinition = new FargateTaskDefinition(this, 'Task', {
      cpu: props.cpu,
      memoryLimitMiB: props.memoryLimitMiB,
      runtimePlatform: { cpuArchitecture: CpuArchitecture.ARM64, operatingSystemFamily: OperatingSystemFamily.LINUX },
    });
    // public listener port -> container port
    const ports: [number, number][] = [
      [props.submissionPort, CONTAINER_SUBMISSION_PORT],
      ...(props.implicitTlsPort === undefined ? [] : [[props.implicitTlsPort, CONTAINER_IMPLICIT_TLS_PORT] as [number, number]]),
    ];
    const containerPorts = ports.map(([, containerPort]) => containerPort);
    const container = this.taskDefinition.addContainer('Gateway', {
      image: ContainerImage.fromRegistry(props.image),
      command: ['gateway'],
      logging: LogDrivers.awsLogs({ logGroup: this.logGroup, streamPrefix: 'gateway' }),
      environment: this.environment(props),
      portMappings: [...containerPorts, props.healthPort].map((containerPort) => ({ containerPort, protocol: EcsProtocol.TCP })),
      // SIGTERM: the gateway stops accepting and finishes the transactions in flight.
      stopTimeout: Duration.seconds(60),
    });
    Validations.of(this.taskDefinition).acknowledge({
      id: 'AwsSolutions-ECS2',
      reason: 'The environment holds names, ports and keysource references (where the TLS key lives), never a secret: the gateway reads secrets itself.',
    });
    if (this.grantImagePull(props.image)) {
      Validations.of(container).acknowledge({
        id: 'Annotation::@aws-cdk/aws-ecs:ecrImageRequiresPolicy',
        reason: 'The execution role is granted pull on the image repository explicitly (grantImagePull).',
      });
    }

    this.securityGroup = new SecurityGroup(this, 'TaskSecurityGroup', { vpc: this.vpc, description: 'mailrelay gateway tasks: SMTP from clients, health checks from the VPC' });
    for (const cidr of props.allowedCidrs) {
      for (const port of containerPorts) this.securityGroup.addIngressRule(Peer.ipv4(cidr), Port.tcp(port), `SMTP submission from ${cidr}`);
    }
    this.securityGroup.addIngressRule(Peer.ipv4(this.vpc.vpcCidrBlock), Port.tcp(props.healthPort), 'load balancer health checks');
    if (props.allowedCidrs.includes('0.0.0.0/0')) {
      Validations.of(this.securityGroup).acknowledge({
        id: 'AwsSolutions-EC23',
        reason: 'A public SMTP submission endpoint: clients connect from anywhere, TLS is required before AUTH and failed logins are throttled per address.',
      });
    }

    const publicSubnets: SubnetSelection = { subnetType: SubnetType.PUBLIC };
    const privateTasks = this.vpc.privateSubnets.length > 0;
    this.service = new FargateService(this, 'Service', {
      cluster: this.cluster,
      taskDefinition: this.taskDefinition,
      desiredCount: props.minCapacity,
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { rollback: true },
      securityGroups: [this.securityGroup],
      vpcSubnets: privateTasks ? { subnetType: SubnetType.PRIVATE_WITH_EGRESS } : publicSubnets,
      // Without private subnets (the default VPC has no NAT), tasks reach SQS, DynamoDB and Secrets Manager over their public IP.
      assignPublicIp: !privateTasks,
    });

    this.loadBalancer = new NetworkLoadBalancer(this, 'LoadBalancer', { vpc: this.vpc, internetFacing: true, crossZoneEnabled: true, vpcSubnets: publicSubnets });
    Validations.of(this.loadBalancer).acknowledge({
      id: 'AwsSolutions-ELB2',
      reason: 'TCP pass-through: NLB access logs only cover TLS listeners. The gateway logs every session, AUTH and message itself, with the client address the NLB preserves.',
    });
    for (const [port, containerPort] of ports) {
      const listener = this.loadBalancer.addListener(`Listener${port}`, { port, protocol: Protocol.TCP });
      const targetGroup = listener.addTargets(`Tasks${port}`, {
        port: containerPort,
        protocol: Protocol.TCP,
        targets: [this.service.loadBalancerTarget({ containerName: container.containerName, containerPort })],
        preserveClientIp: true,
        deregistrationDelay: Duration.seconds(60),
        healthCheck: { protocol: Protocol.HTTP, port: String(props.healthPort), path: HEALTH_PATH, interval: Duration.seconds(10), healthyThresholdCount: 2, unhealthyThresholdCount: 2 },
      });
      this.listeners.push(listener);
      this.targetGroups.push(targetGroup);
    }

    this.grantAccess(props);

    const scaling = this.service.autoScaleTaskCount({ minCapacity: props.minCapacity, maxCapacity: props.maxCapacity });
    scaling.scaleToTrackCustomMetric('Connections', {
      metric: new Metric({
        namespace: props.metricsNamespace,
        metricName: ACTIVE_CONNECTIONS_METRIC,
        dimensionsMap: { [GATEWAY_METRICS_DIMENSION]: GATEWAY_METRICS_SERVICE },
        statistic: Stats.AVERAGE,
        period: Duration.minutes(1),
      }),
      targetValue: props.connectionsPerTask,
      scaleInCooldown: Duration.minutes(5),
      scaleOutCooldown: Duration.minutes(1),
    });

    const metric = (name: string) => this.logMetric(props.metricsNamespace, name);
    this.filter('AuthFailuresFilter', GATEWAY_LOG_METRIC.authFailures, FilterPattern.stringValue('$.event', '=', GATEWAY_EVENT.authFailed), props.metricsNamespace);
    this.filter('Replies4xxFilter', GATEWAY_LOG_METRIC.replies4xx, FilterPattern.all(FilterPattern.numberValue('$.code', '>=', 400), FilterPattern.numberValue('$.code', '<', 500)), props.metricsNamespace);
    this.filter('RepliesFilter', GATEWAY_LOG_METRIC.replies, FilterPattern.numberValue('$.code', '>=', 200), props.metricsNamespace);

    this.authFailures = new Alarm(this, 'AuthFailuresAlarm', {
      alarmDescription: `At least ${props.authFailureThreshold} failed SMTP logins at the gateway in 5 minutes: password guessing (see auth-failed and auth-locked-out in the gateway's log group, by clientAddress) or a submitter whose password changed.`,
      metric: metric(GATEWAY_LOG_METRIC.authFailures),
      threshold: props.authFailureThreshold,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.replies4xxRate = new Alarm(this, 'Replies4xxRateAlarm', {
      alarmDescription: `More than ${props.replies4xxPercentThreshold}% of the gateway's SMTP replies were 4xx in 5 minutes: clients are told to retry. queue-failed = SQS refused (451), offload-failed = S3 refused a large body (451); auth-unavailable = the config table or a secret could not be read (454).`,
      metric: new MathExpression({
        expression: 'IF(replies > 0, 100 * r4xx / replies, 0)',
        usingMetrics: { r4xx: metric(GATEWAY_LOG_METRIC.replies4xx), replies: metric(GATEWAY_LOG_METRIC.replies) },
        period: ALARM_PERIOD,
        label: '4xx replies (%)',
      }),
      threshold: props.replies4xxPercentThreshold,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.noHealthyTasks = new Alarm(this, 'NoHealthyTasksAlarm', {
      alarmDescription: 'No gateway task passes the health check: SMTP submission is down. See the service events in ECS and the gateway log group.',
      metric: this.targetGroups[0]!.metrics.healthyHostCount({ statistic: Stats.MINIMUM, period: Duration.minutes(1) }),
      threshold: 1,
      evaluationPeriods: 3,
      comparisonOperator: ComparisonOperator.LESS_THAN_THRESHOLD,
      treatMissingData: TreatMissingData.BREACHING,
    });
    if (props.topic) {
      for (const alarm of this.alarms) {
        alarm.addAlarmAction(new SnsAction(props.topic));
        alarm.addOkAction(new SnsAction(props.topic));
      }
    }
  }

  /** Every alarm of the gateway. */
  public get alarms(): Alarm[] {
    return [this.authFailures, this.replies4xxRate, this.noHealthyTasks];
  }

  private newVpc(): Vpc {
    const vpc = new Vpc(this, 'Vpc', { maxAzs: 2, natGateways: 0, subnetConfiguration: [{ name: 'public', subnetType: SubnetType.PUBLIC }] });
    vpc.addFlowLog('FlowLog', { destination: FlowLogDestination.toCloudWatchLogs() });
    return vpc;
  }

  private environment(props: GatewayServiceProps): Record<string, string> {
    return {
      AWS_REGION: Stack.of(this).region,
      [CLI_ENV.queueUrl]: props.queue.queueUrl,
      [CLI_ENV.configTable]: props.configTable.tableName,
      [CLI_ENV.payloadBucket]: props.payloadBucket.bucketName,
      [CLI_ENV.secretPrefix]: props.secretPrefix,
      [GATEWAY_ENV.host]: '0.0.0.0',
      [GATEWAY_ENV.port]: String(CONTAINER_SUBMISSION_PORT),
      ...(props.implicitTlsPort === undefined ? {} : { [GATEWAY_ENV.tlsPort]: String(CONTAINER_IMPLICIT_TLS_PORT) }),
      [GATEWAY_ENV.healthPort]: String(props.healthPort),
      [GATEWAY_ENV.tlsCert]: props.tlsCert,
      [GATEWAY_ENV.tlsKey]: props.tlsKey,
      [GATEWAY_ENV.metricsNamespace]: props.metricsNamespace,
      ...(props.serverName === undefined ? {} : { [GATEWAY_ENV.name]: props.serverName }),
    };
  }

  /** An ECR image needs pull rights on its repository; any other registry is public. */
  private grantImagePull(image: string): boolean {
    const ecr = /^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?\/([^:@]+)/.exec(image);
    if (!ecr) return false;
    const [, account, region, name] = ecr as unknown as [string, string, string, string];
    const stack = Stack.of(this);
    const repository = Repository.fromRepositoryAttributes(this, 'ImageRepository', {
      repositoryName: name,
      repositoryArn: stack.formatArn({ service: 'ecr', account, region, resource: 'repository', resourceName: name }),
    });
    const executionRole = this.taskDefinition.obtainExecutionRole();
    repository.grantPull(executionRole);
    Validations.of(executionRole).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'ecr:GetAuthorizationToken has no resource-level permissions; pulling itself is granted on the one image repository.',
    });
    return true;
  }

  /** The task role: send to the queue, put payloads, read submitter items, read keysources under the prefix. Nothing else. */
  private grantAccess(props: GatewayServiceProps): void {
    const role = this.taskDefinition.taskRole;
    const stack = Stack.of(this);
    role.addToPrincipalPolicy(new PolicyStatement({ sid: 'SendToQueue', actions: ['sqs:SendMessage'], resources: [props.queue.queueArn] }));
    this.grantKey(props.queue.encryptionMasterKey, ['kms:GenerateDataKey', 'kms:Decrypt']);
    // Write-only: no GetObject (the bucket policy lets only the worker read), no DeleteObject (an
    // object whose SendMessage failed is left to the lifecycle rule, cli/gateway/submitMessage.ts).
    const payloadObjects = props.payloadBucket.arnForObjects('*');
    role.addToPrincipalPolicy(new PolicyStatement({ sid: 'PutPayloads', actions: ['s3:PutObject'], resources: [payloadObjects] }));
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagResourceText(this, payloadObjects)}]`,
      reason: 'Each large message is written under a new random key, so the gateway puts objects anywhere in the payload bucket, and in no other bucket; it can neither read nor delete them.',
    });
    // A single PutObject under SSE-KMS needs only a data key (no kms:Decrypt: no multipart upload).
    this.grantKey(props.payloadBucket.encryptionKey, ['kms:GenerateDataKey']);
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'ReadSubmitterItems',
        actions: ['dynamodb:GetItem', 'dynamodb:BatchGetItem'],
        resources: [props.configTable.tableArn],
        // Only submitter#… items: the gateway never sees the relays' config.
        conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['submitter#*'] } },
      }),
    );
    this.grantKey(props.configTable.encryptionKey, ['kms:Decrypt', 'kms:DescribeKey']);
    const secretArn = stack.formatArn({ service: 'secretsmanager', resource: 'secret', resourceName: `${props.secretPrefix}*`, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
    const parameterArn = stack.formatArn({ service: 'ssm', resource: 'parameter', resourceName: `${parameterArnPrefix(props.secretPrefix)}*`, arnFormat: ArnFormat.SLASH_RESOURCE_NAME });
    role.addToPrincipalPolicy(new PolicyStatement({ sid: 'ReadGatewaySecrets', actions: ['secretsmanager:GetSecretValue'], resources: [secretArn] }));
    role.addToPrincipalPolicy(new PolicyStatement({ sid: 'ReadGatewayParameters', actions: ['ssm:GetParameter'], resources: [parameterArn] }));
    for (const resource of [secretArn, parameterArn]) {
      Validations.of(role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${nagResourceText(this, resource)}]`,
        reason: 'Submitter passwords and the TLS certificate are keysources operators name, all under the gateway prefix: the trailing wildcard is that boundary (and covers the suffix Secrets Manager appends).',
      });
    }
    if (props.secretKmsKeyArns.length > 0) {
      role.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'DecryptGatewaySecrets',
          actions: ['kms:Decrypt'],
          resources: [...props.secretKmsKeyArns],
          conditions: { StringEquals: { 'kms:ViaService': [`secretsmanager.${stack.region}.amazonaws.com`, `ssm.${stack.region}.amazonaws.com`] } },
        }),
      );
    }
  }

  private grantKey(key: IKey | undefined, actions: string[]): void {
    key?.grant(this.taskDefinition.taskRole, ...actions);
  }

  private filter(id: string, metricName: string, filterPattern: IFilterPattern, namespace: string): void {
    new MetricFilter(this, id, { logGroup: this.logGroup, metricNamespace: namespace, metricName, filterPattern, metricValue: '1', defaultValue: 0 });
  }

  private logMetric(namespace: string, metricName: string): Metric {
    return new Metric({ namespace, metricName, statistic: Stats.SUM, period: ALARM_PERIOD });
  }
}
