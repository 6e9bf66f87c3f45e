import { Annotations, ArnFormat, AssetHashType, DockerImage, Duration, Stack, Validations, type ILocalBundling } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import type { IEventBus } from 'aws-cdk-lib/aws-events';
import type { ISecurityGroup, IVpc, SubnetSelection } from 'aws-cdk-lib/aws-ec2';
import { ManagedPolicy, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { ApplicationLogLevel, Architecture, Code, Function as LambdaFunction, LoggingFormat, Runtime, SystemLogLevel, Tracing } from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ENV, REPO_ROOT } from '../constants.js';
import { canonicalPrefix } from '../../lambda/core/secretPrefix.js';
import type { RelayLogLevel } from '../mailrelayStackProps.js';
import { nagResourceText } from '../nagFinding.js';
import { bundleRelay } from '../relayBundle.js';
import type { PayloadBucket } from './payloadBucket.js';

/**
 * CDK local bundling of the worker: infra/relayBundle.ts into the asset directory. aws-lambda-nodejs
 * `NodejsFunction` cannot deploy it: it always builds one `--outfile=index.mjs`, which inlines every
 * dynamic import, so each cold start would compile the S3, Lambda and SSM clients that only some
 * messages need (relayBundle.ts says why the bundle is split). The entries are public fields on
 * purpose: CDK keys its in-process asset cache on the JSON of the bundling options, so two
 * functions with different entries or auth hooks never share an asset.
 */
class RelayLocalBundling implements ILocalBundling {
  public constructor(
    public readonly entry: string,
    public readonly authHookEntry: string | undefined,
  ) {}

  public tryBundle(outputDir: string): boolean {
    bundleRelay(outputDir, { entry: this.entry, ...(this.authHookEntry ? { authHookEntry: this.authHookEntry } : {}) });
    return true;
  }
}

/**
 * Lambda's application log level for a Powertools level. Lambda drops JSON lines below it and
 * gives Powertools its level (AWS_LAMBDA_LOG_LEVEL wins over POWERTOOLS_LOG_LEVEL). The EMF
 * metric documents carry no "level", which Lambda reads as INFO: above INFO, Lambda would drop
 * every metric. So the filter stays at INFO for WARN and above (the worker logs from INFO then).
 */
export function applicationLogLevel(level: RelayLogLevel): ApplicationLogLevel {
  switch (level) {
    case 'TRACE':
      return ApplicationLogLevel.TRACE;
    case 'DEBUG':
      return ApplicationLogLevel.DEBUG;
    default:
      return ApplicationLogLevel.INFO;
  }
}

/** Props of {@link RelayFunction}. Validated by the stack (`resolveMailrelayProps`). */
export interface RelayFunctionProps {
  /** Absolute path of the handler file (exports `handler`). */
  readonly entry: string;
  /** Lambda timeout of one batch. */
  readonly timeout: Duration;
  /** Lambda memory (MB). */
  readonly memorySize: number;
  /** Retention of the function's log group. */
  readonly logRetention: RetentionDays;
  /** `POWERTOOLS_LOG_LEVEL`. */
  readonly logLevel: RelayLogLevel;
  /** `POWERTOOLS_SERVICE_NAME`. */
  readonly serviceName: string;
  /** `POWERTOOLS_METRICS_NAMESPACE`. */
  readonly metricsNamespace: string;
  /** X-Ray active tracing of the function (the Lambda service's segments: invocation, init, duration). */
  readonly tracing: boolean;
  /** `CONFIG_CACHE_TTL_SECONDS`. */
  readonly configCacheTtl: Duration;
  /** `SECRET_CACHE_TTL_SECONDS`. */
  readonly secretCacheTtl: Duration;
  /**
   * VPC to place the function in.
   * @default - not in a VPC
   */
  readonly vpc?: IVpc;
  /**
   * Subnets of `vpc`.
   * @default - the VPC's private subnets
   */
  readonly vpcSubnets?: SubnetSelection;
  /**
   * Security groups of the function.
   * @default - a new security group allowing all egress
   */
  readonly securityGroups?: ISecurityGroup[];
  /**
   * The auth hook module, bundled in place of `#auth-hook` (docs/auth-hook.md).
   * @default - no module hook
   */
  readonly authHookEntry?: string;
}

/** How the function consumes the queue. */
export interface RelayEventSourceOptions {
  /** Records per invocation. */
  readonly batchSize: number;
  /**
   * How long to gather records before invoking.
   * @default - no batching window
   */
  readonly maxBatchingWindow?: Duration;
  /** The most concurrent invocations the event source starts. */
  readonly maxConcurrency: number;
  /** The queue's redrive maxReceiveCount, which the worker must know (`MAX_RECEIVE_COUNT`). */
  readonly maxReceiveCount: number;
  /**
   * The queue's retention (`QUEUE_RETENTION_SECONDS`): the worker expires a message before SQS drops it.
   * @default - not told (the worker then trusts the config's maxAgeSeconds)
   */
  readonly retentionPeriod?: Duration;
}

/**
 * The worker: a Node.js 24 arm64 function bundled by local esbuild (infra/relayBundle.ts: ESM,
 * minified, with source maps, split at dynamic imports), its own log group and its own role, which
 * starts with nothing but writing to that log group. Each `bind*` method wires
 * one resource at once: the environment variable the worker reads and the
 * exact IAM statement it needs.
 */
export class RelayFunction extends Construct {
  public readonly function: LambdaFunction;
  public readonly role: Role;
  public readonly logGroup: LogGroup;

  public constructor(scope: Construct, id: string, props: RelayFunctionProps) {
    super(scope, id);

    this.logGroup = new LogGroup(this, 'LogGroup', { retention: props.logRetention });

    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: 'mailrelay worker: least privilege, granted resource by resource',
    });
    // Instead of AWSLambdaBasicExecutionRole (logs:* on every group): this group only.
    this.logGroup.grantWrite(this.role);
    if (props.vpc) {
      this.role.addManagedPolicy(ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSLambdaVPCAccessExecutionRole'));
      Validations.of(this.role).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
        reason:
          'A function in a VPC must create and delete its network interfaces; the ec2 actions this AWS managed policy grants ' +
          'cannot be scoped to resources, and AWS maintains the policy as the Lambda service changes.',
      });
    }

    this.function = new LambdaFunction(this, 'Function', {
      code: Code.fromAsset(REPO_ROOT, {
        // The hash of the bundle, not of the repository: a change that does not reach the bundle does not redeploy.
        assetHashType: AssetHashType.OUTPUT,
        bundling: {
          // Never pulled: local bundling always succeeds (esbuild is a dependency of this project).
          image: DockerImage.fromRegistry('dummy'),
          local: new RelayLocalBundling(props.entry, props.authHookEntry),
        },
      }),
      // RELAY_BUNDLE_ENTRY (index.mjs) exports `handler`.
      handler: 'index.handler',
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      description: 'mailrelay: relays SQS messages over authenticated, encrypted SMTP',
      timeout: props.timeout,
      memorySize: props.memorySize,
      role: this.role,
      logGroup: this.logGroup,
      // JSON platform records (START/REPORT as JSON, queryable next to the worker's own lines)
      loggingFormat: LoggingFormat.JSON,
      applicationLogLevelV2: applicationLogLevel(props.logLevel),
      systemLogLevelV2: SystemLogLevel.INFO,
      tracing: props.tracing ? Tracing.ACTIVE : Tracing.DISABLED,
      ...(props.vpc ? { vpc: props.vpc } : {}),
      ...(props.vpcSubnets ? { vpcSubnets: props.vpcSubnets } : {}),
      ...(props.securityGroups ? { securityGroups: props.securityGroups } : {}),
      environment: {
        [ENV.serviceName]: props.serviceName,
        [ENV.metricsNamespace]: props.metricsNamespace,
        [ENV.logLevel]: props.logLevel,
        [ENV.configCacheTtlSeconds]: String(props.configCacheTtl.toSeconds()),
        [ENV.secretCacheTtlSeconds]: String(props.secretCacheTtl.toSeconds()),
        // No --enable-source-maps by default: Node parses every loaded file's map at import, a
        // third of the cold init (issue 17, docs/performance.md). The maps ship with the bundle and
        // names are kept, so setting NODE_OPTIONS=--enable-source-maps on the function maps stack
        // traces again without a redeploy of code.
      },
    });
    if (props.tracing) {
      Validations.of(this.role).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'X-Ray active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords take no resource (CDK adds them with tracing on).',
      });
    }
    if (applicationLogLevel(props.logLevel) !== props.logLevel) {
      Annotations.of(this).addWarningV2(
        'mailrelay:logLevelAboveInfo',
        `logLevel ${props.logLevel}: Lambda's application log level stays INFO so that the metric (EMF) lines, which have no level, are kept; the worker then logs from INFO.`,
      );
    }
  }

  /**
   * Reads the config table: `CONFIG_TABLE_NAME`, BatchGetItem only (the one call
   * lambda/adapters/dynamoConfigStore.ts makes).
   */
  public bindConfigTable(table: ITable): void {
    this.function.addEnvironment(ENV.configTableName, table.tableName);
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'ReadConfigTable',
        actions: ['dynamodb:BatchGetItem'],
        resources: [table.tableArn],
      }),
    );
    if (table.encryptionKey) this.grantKey(table.encryptionKey, ['kms:Decrypt', 'kms:DescribeKey']);
  }

  /**
   * Reads and writes the idempotency table: `IDEMPOTENCY_TABLE_NAME`, UpdateItem (claim, and a
   * settle retried alone), BatchWriteItem (a batch's settles, lambda/worker/settleBatch.ts) and
   * GetItem (a refused claim's current state), the calls lambda/adapters/dynamoIdempotencyStore.ts makes.
   */
  public bindIdempotencyTable(table: ITable): void {
    this.function.addEnvironment(ENV.idempotencyTableName, table.tableName);
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'UseIdempotencyTable',
        actions: ['dynamodb:BatchWriteItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem'],
        resources: [table.tableArn],
      }),
    );
    if (table.encryptionKey) {
      this.grantKey(table.encryptionKey, ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey']);
    }
  }

  /**
   * Shares relay suspensions across the fleet (docs/design.md §3): `RELAY_STATE_TABLE_NAME` and
   * the item actions the worker uses on it — read a relay's state, start a suspension
   * (conditional put), claim the probe (conditional update), end it (delete).
   */
  public bindRelayStateTable(table: ITable): void {
    this.function.addEnvironment(ENV.relayStateTableName, table.tableName);
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'UseRelayStateTable',
        // BatchGetItem: one read of a relay's lease slots when they all seemed held (lambda/adapters/dynamoRelayLimiter.ts).
        actions: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
        resources: [table.tableArn],
      }),
    );
    if (table.encryptionKey) {
      this.grantKey(table.encryptionKey, ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey']);
    }
  }

  /**
   * Consumes `queue` with partial batch responses and dead-letters to
   * `deadLetterQueue`: `QUEUE_URL`, `DEAD_LETTER_QUEUE_URL`, `MAX_RECEIVE_COUNT`, the event source
   * mapping (whose grant includes ChangeMessageVisibility, used for backoff)
   * and SendMessage on the DLQ.
   */
  public bindQueues(queue: IQueue, deadLetterQueue: IQueue, options: RelayEventSourceOptions): void {
    this.function.addEnvironment(ENV.queueUrl, queue.queueUrl);
    this.function.addEnvironment(ENV.deadLetterQueueUrl, deadLetterQueue.queueUrl);
    this.function.addEnvironment(ENV.maxReceiveCount, String(options.maxReceiveCount));
    if (options.retentionPeriod) this.function.addEnvironment(ENV.queueRetentionSeconds, String(options.retentionPeriod.toSeconds()));
    this.function.addEventSource(
      new SqsEventSource(queue, {
        batchSize: options.batchSize,
        ...(options.maxBatchingWindow ? { maxBatchingWindow: options.maxBatchingWindow } : {}),
        maxConcurrency: options.maxConcurrency,
        reportBatchItemFailures: true,
      }),
    );
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'SendToDeadLetterQueue',
        actions: ['sqs:SendMessage'],
        resources: [deadLetterQueue.queueArn],
      }),
    );
    if (deadLetterQueue.encryptionMasterKey) {
      this.grantKey(deadLetterQueue.encryptionMasterKey, ['kms:Decrypt', 'kms:GenerateDataKey']);
    }
  }

  /**
   * Publishes delivery events to `bus` (docs/design.md §3): `EVENT_BUS_NAME` (the bus's ARN, which
   * PutEvents accepts for a bus in any account) and `events:PutEvents` on that bus only.
   */
  public bindEventBus(bus: IEventBus): void {
    this.function.addEnvironment(ENV.eventBusName, bus.eventBusArn);
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'PutDeliveryEvents',
        actions: ['events:PutEvents'],
        resources: [bus.eventBusArn],
      }),
    );
  }

  /**
   * Lets the worker read keysources under `secretPrefix` and nothing else:
   * `SECRET_PREFIX`, `secretsmanager:GetSecretValue` on `secret:<prefix>*`,
   * `ssm:GetParameter` on `parameter/<prefix>*`, and `kms:Decrypt` on
   * `kmsKeyArns` only when called through Secrets Manager or SSM.
   */
  public bindSecrets(secretPrefix: string, kmsKeyArns: readonly string[] = []): void {
    const stack = Stack.of(this);
    this.function.addEnvironment(ENV.secretPrefix, secretPrefix);
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'ReadRelaySecrets',
        actions: ['secretsmanager:GetSecretValue'],
        resources: [this.secretArnPattern(secretPrefix)],
      }),
    );
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'ReadRelayParameters',
        actions: ['ssm:GetParameter'],
        resources: [this.parameterArnPattern(secretPrefix)],
      }),
    );
    for (const resource of [this.secretArnPattern(secretPrefix), this.parameterArnPattern(secretPrefix)]) {
      Validations.of(this.role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${nagResourceText(this, resource)}]`,
        reason:
          'Keysources are named by operators in config items, so the function may read any secret or parameter under the ' +
          'configured prefix, and only those: the trailing wildcard is the prefix boundary (and covers the random suffix ' +
          'Secrets Manager appends to secret ARNs).',
      });
    }
    if (kmsKeyArns.length > 0) {
      this.role.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'DecryptRelaySecrets',
          actions: ['kms:Decrypt'],
          resources: [...kmsKeyArns],
          conditions: {
            StringEquals: {
              'kms:ViaService': [`secretsmanager.${stack.region}.amazonaws.com`, `ssm.${stack.region}.amazonaws.com`],
            },
          },
        }),
      );
    }
  }

  /**
   * The auth hook's bounds (`AUTH_HOOK_TIMEOUT_MS`, `AUTH_HOOK_CACHE_TTL_SECONDS`,
   * `AUTH_HOOK_CACHE_SIZE`, each only when set) and `lambda:InvokeFunction` on exactly
   * `functionArns`, the functions config items may name as `auth.hookFunction`.
   */
  public bindAuthHook(options: { timeout?: Duration; cacheTtl?: Duration; cacheSize?: number }, functionArns: readonly string[]): void {
    if (options.timeout) this.function.addEnvironment(ENV.authHookTimeoutMs, String(options.timeout.toMilliseconds()));
    if (options.cacheTtl) this.function.addEnvironment(ENV.authHookCacheTtlSeconds, String(options.cacheTtl.toSeconds()));
    if (options.cacheSize !== undefined) this.function.addEnvironment(ENV.authHookCacheSize, String(options.cacheSize));
    if (functionArns.length === 0) return;
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'InvokeAuthHookFunctions',
        actions: ['lambda:InvokeFunction'],
        resources: [...functionArns],
      }),
    );
  }

  /** `arn:<partition>:secretsmanager:<region>:<account>:secret:<prefix without leading slash>*` (Secrets Manager names have none). */
  public secretArnPattern(secretPrefix: string): string {
    return Stack.of(this).formatArn({
      service: 'secretsmanager',
      resource: 'secret',
      resourceName: `${canonicalPrefix(secretPrefix)}*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
  }

  /** `arn:<partition>:ssm:<region>:<account>:parameter/<prefix without leading slash>*` */
  public parameterArnPattern(secretPrefix: string): string {
    return Stack.of(this).formatArn({
      service: 'ssm',
      resource: 'parameter',
      resourceName: `${canonicalPrefix(secretPrefix)}*`,
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    });
  }

  /**
   * Reads pointer bodies from the payload bucket and deletes them once relayed:
   * `PAYLOAD_BUCKET_NAME`, `s3:GetObject` and `s3:DeleteObject` on its objects only.
   */
  public bindPayloadBucket(payloads: PayloadBucket): void {
    this.function.addEnvironment(ENV.payloadBucketName, payloads.bucket.bucketName);
    payloads.allowWorker(this.role);
    Validations.of(this.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagResourceText(this, payloads.bucket.arnForObjects('*'))}]`,
      reason: 'Producers name each payload object (a random key per message), so the worker reads and deletes any object of the payload bucket, and of no other bucket.',
    });
  }

  private grantKey(key: IKey, actions: string[]): void {
    key.grant(this.role, ...actions);
  }
}
