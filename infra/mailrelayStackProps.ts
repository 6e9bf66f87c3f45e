import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { Duration, Token, type StackProps } from 'aws-cdk-lib';
import type { ISecurityGroup, IVpc, SubnetSelection } from 'aws-cdk-lib/aws-ec2';
import type { IEventBus } from 'aws-cdk-lib/aws-events';
import type { IRole } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import {
  DEAD_LETTER_RETENTION_DAYS,
  DEFAULT_ENTRY,
  DEFAULT_METRICS_NAMESPACE,
  DEFAULT_SECRET_PREFIX,
  DEFAULT_SERVICE_NAME,
  MAX_BATCH_SIZE_WITHOUT_WINDOW,
  REPO_ROOT,
  VISIBILITY_TIMEOUT_FACTOR,
} from './constants.js';
import { MailrelayPropsError } from './errors.js';
import { resolveGatewayProps, type GatewayStackProps, type ResolvedGatewayProps } from './gatewayProps.js';
import { canonicalPrefix, secretPrefixProblem } from '../lambda/core/secretPrefix.js';
import { deliveryHorizon, MAX_QUEUE_RETENTION_SECONDS, type DeliveryHorizon, type DeliveryHorizonProps } from './retryHorizon.js';

/** Powertools log levels. */
export type RelayLogLevel = 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'CRITICAL' | 'SILENT';

const LOG_LEVELS: readonly RelayLogLevel[] = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'CRITICAL', 'SILENT'];

/**
 * Props of {@link MailrelayStack}. Every prop is optional: `cdk deploy` with
 * none of them gives a working worker. Each can also be set as CDK context
 * (`-c name=value`, see `infra/context.ts`).
 */
export interface MailrelayStackProps extends StackProps {
  /**
   * The worker's handler file (TypeScript, bundled by local esbuild).
   * A relative path is resolved from the repository root.
   * @default 'lambda/handlers/relay.ts'
   */
  readonly entry?: string;

  /**
   * Keysources (Secrets Manager secret names, SSM parameter names) must start
   * with this prefix; the worker refuses the others and IAM grants only these
   * (`secret:<prefix>*`, `parameter/<prefix>*`, a leading `/` ignored in both:
   * `/mailrelay/` and `mailrelay/` are the same prefix). It must end with `/`.
   * @default 'mailrelay/'
   */
  readonly secretPrefix?: string;

  /**
   * IAM roles of the producers (the applications that enqueue mail). The
   * queue's resource policy lets each send messages (`sqs:SendMessage`) and
   * nothing else; bind them to bindings with `producers` (their role ids) in
   * `binding#…` config items (docs/producers.md).
   * @default - none: grant producers yourself
   */
  readonly producerRoles?: IRole[];

  /**
   * ARNs of producer roles, as an alternative to {@link producerRoles} (for context).
   * @default - none
   */
  readonly producerRoleArns?: string[];

  /**
   * ARNs of the customer-managed KMS keys that encrypt the secrets and
   * SecureString parameters under {@link secretPrefix}. The function gets
   * `kms:Decrypt` on exactly these keys, and only through Secrets Manager and SSM.
   * @default - none: secrets encrypted with the AWS managed keys need no grant
   */
  readonly secretKmsKeyArns?: string[];

  /**
   * Customer-managed KMS key for the queue, the dead-letter queue and both tables.
   * @default - SQS-managed SSE for the queues and the AWS managed key for the tables
   */
  readonly encryptionKey?: IKey;

  /**
   * ARN of an existing KMS key, as an alternative to {@link encryptionKey} (for context).
   * @default - see encryptionKey
   */
  readonly encryptionKeyArn?: string;

  /**
   * Lambda timeout of one batch.
   * @default Duration.seconds(60)
   */
  readonly functionTimeout?: Duration;

  /**
   * Lambda memory (MB); CPU scales with it, which matters for TLS handshakes.
   * @default 512
   */
  readonly memorySize?: number;

  /**
   * Visibility timeout of the queue: how long a received batch stays hidden.
   * Must be at least 6 × functionTimeout + maxBatchingWindow.
   * @default - 6 × functionTimeout + maxBatchingWindow (360 seconds with the defaults)
   */
  readonly visibilityTimeout?: Duration;

  /**
   * The retry horizon of the worker (docs/design.md §2 `delivery`): the largest
   * `delivery.maxAgeSeconds` and the fastest schedule any config item sets. The
   * queue's retention and maxReceiveCount are derived from it, so SQS never drops
   * or moves a message before the worker is done retrying it.
   * @default { maxAgeSeconds: 259200, retryIntervalSeconds: 60, maxRetryIntervalSeconds: 3600 }
   */
  readonly delivery?: DeliveryHorizonProps;

  /**
   * How long the queue keeps a message; shorter than the DLQ's 14 days, and at
   * least delivery.maxAgeSeconds + maxRetryIntervalSeconds + 1200 s.
   * @default - 4 days, or that minimum plus a day when it is longer
   */
  readonly retentionPeriod?: Duration;

  /**
   * Receives of one message before SQS moves it to the dead-letter queue: a
   * backstop (a message that crashes the function); the worker dead-letters by
   * age first. At least what `delivery` needs. The worker is told too
   * (`MAX_RECEIVE_COUNT`).
   * @default - derived from `delivery` (204 with the defaults)
   */
  readonly maxReceiveCount?: number;

  /**
   * Records per Lambda invocation (1–10,000; above 10 needs maxBatchingWindow).
   * @default 10
   */
  readonly batchSize?: number;

  /**
   * How long the event source gathers records before invoking (at most 5 minutes).
   * @default - no batching window
   */
  readonly maxBatchingWindow?: Duration;

  /**
   * The most concurrent invocations the SQS event source starts (2–1,000).
   * Bounds the load on your SMTP relays.
   * @default 5
   */
  readonly maxConcurrency?: number;

  /**
   * Retention of the function's log group.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;

  /**
   * `POWERTOOLS_LOG_LEVEL`.
   * @default 'INFO'
   */
  readonly logLevel?: RelayLogLevel;

  /**
   * X-Ray active tracing of the function: a trace per invocation (sampled by X-Ray's rules), with
   * its init and duration segments. Costs X-Ray's traces-recorded price beyond the free tier.
   * @default false
   */
  readonly tracing?: boolean;

  /**
   * How long the worker caches config items (`CONFIG_CACHE_TTL_SECONDS`).
   * @default Duration.seconds(60)
   */
  readonly configCacheTtl?: Duration;

  /**
   * How long the worker caches secrets (`SECRET_CACHE_TTL_SECONDS`).
   * @default Duration.seconds(300)
   */
  readonly secretCacheTtl?: Duration;

  /**
   * `POWERTOOLS_SERVICE_NAME`: the `service` dimension of the metrics.
   * @default 'mailrelay'
   */
  readonly serviceName?: string;

  /**
   * `POWERTOOLS_METRICS_NAMESPACE`.
   * @default 'Mailrelay'
   */
  readonly metricsNamespace?: string;

  /**
   * Place the function in this VPC, for relays only reachable privately.
   * The subnets need a route to SQS, DynamoDB, Secrets Manager and SSM
   * (NAT or VPC endpoints) as well as to the relays.
   * @default - not in a VPC
   */
  readonly vpc?: IVpc;

  /**
   * ID of an existing VPC, looked up at synth (needs an explicit stack `env`),
   * as an alternative to {@link vpc} (for context).
   * @default - not in a VPC
   */
  readonly vpcId?: string;

  /**
   * Subnets of {@link vpc} for the function.
   * @default - the VPC's private subnets
   */
  readonly vpcSubnets?: SubnetSelection;

  /**
   * Subnet IDs, as an alternative to {@link vpcSubnets} (for context).
   * @default - the VPC's private subnets
   */
  readonly subnetIds?: string[];

  /**
   * Security groups of the function (they must allow egress to the relays and AWS APIs).
   * @default - a new security group allowing all egress
   */
  readonly securityGroups?: ISecurityGroup[];

  /**
   * Security group IDs, as an alternative to {@link securityGroups} (for context).
   * @default - a new security group allowing all egress
   */
  readonly securityGroupIds?: string[];

  /**
   * SNS topic the alarms notify (on ALARM and on OK).
   * @default - a new topic if alarmEmail is set, else no notification
   */
  readonly alarmTopic?: ITopic;

  /**
   * ARN of an existing SNS topic, as an alternative to {@link alarmTopic} (for context).
   * @default - see alarmTopic
   */
  readonly alarmTopicArn?: string;

  /**
   * E-mail address subscribed to the alarm topic (confirm the subscription e-mail).
   * @default - no e-mail subscription
   */
  readonly alarmEmail?: string;

  /**
   * Alarm when the oldest message on the queue is older than this.
   * @default Duration.minutes(30)
   */
  readonly oldestMessageAgeThreshold?: Duration;

  /**
   * Alarm when at least this many authentication failures happen in 5 minutes.
   * @default 1
   */
  readonly authFailureThreshold?: number;

  /**
   * Name of the CloudWatch dashboard (unique per account and region).
   * @default - generated by CloudFormation
   */
  readonly dashboardName?: string;

  /**
   * Name of the config table.
   * @default - generated by CloudFormation
   */
  readonly configTableName?: string;

  /**
   * The EventBridge bus delivery events go to (docs/events.md); the function may
   * `events:PutEvents` on it and on nothing else.
   * @default - the stack creates a bus
   */
  readonly eventBus?: IEventBus;

  /**
   * ARN of an existing bus, as an alternative to {@link eventBus} (for context).
   * @default - see eventBus
   */
  readonly eventBusArn?: string;

  /**
   * Name of the bus the stack creates (ignored with {@link eventBus} or {@link eventBusArn}).
   * @default - generated by CloudFormation
   */
  readonly eventBusName?: string;

  /**
   * Create the example rule: bounced, dead-lettered and expired recipients' events to a log group.
   * @default true
   */
  readonly deliveryEventsExampleRule?: boolean;

  /**
   * The SMTP submission gateway (`mailrelay gateway`, docs/gateway.md): ECS Fargate behind a
   * Network Load Balancer on 587 and 465, from a container image you build and push.
   * @default - no gateway
   */
  readonly gateway?: GatewayStackProps;
}

/** {@link MailrelayStackProps} with defaults applied and every value checked. */
export interface ResolvedMailrelayProps {
  readonly entry: string;
  readonly secretPrefix: string;
  readonly secretKmsKeyArns: readonly string[];
  /** Producer role ARNs (from producerRoleArns); producerRoles are used as given. */
  readonly producerRoleArns: readonly string[];
  readonly functionTimeout: Duration;
  readonly memorySize: number;
  readonly visibilityTimeout: Duration;
  readonly retentionPeriod: Duration;
  readonly maxReceiveCount: number;
  readonly delivery: DeliveryHorizon;
  readonly batchSize: number;
  readonly maxBatchingWindow?: Duration;
  readonly maxConcurrency: number;
  readonly logRetention: RetentionDays;
  readonly logLevel: RelayLogLevel;
  readonly tracing: boolean;
  /** Stack tags (StackProps.tags), checked. */
  readonly tags: Readonly<Record<string, string>>;
  readonly configCacheTtl: Duration;
  readonly secretCacheTtl: Duration;
  readonly serviceName: string;
  readonly metricsNamespace: string;
  readonly oldestMessageAgeThreshold: Duration;
  readonly authFailureThreshold: number;
  readonly alarmEmail?: string;
  readonly dashboardName?: string;
  readonly configTableName?: string;
  readonly eventBusArn?: string;
  readonly eventBusName?: string;
  readonly deliveryEventsExampleRule: boolean;
  readonly gateway?: ResolvedGatewayProps;
}

/** Defaults of the numeric and duration props (the README table mirrors them). */
export const MAILRELAY_DEFAULTS = {
  functionTimeout: Duration.seconds(60),
  memorySize: 512,
  retentionPeriod: Duration.days(4),
  batchSize: 10,
  maxConcurrency: 5,
  logRetention: RetentionDays.ONE_MONTH,
  logLevel: 'INFO',
  configCacheTtl: Duration.seconds(60),
  secretCacheTtl: Duration.seconds(300),
  oldestMessageAgeThreshold: Duration.minutes(30),
  authFailureThreshold: 1,
} as const;

const SECRET_PREFIX_PATTERN = /^[A-Za-z0-9/_+=.@-]{1,256}$/;
const KMS_KEY_ARN_PATTERN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/;
const EMAIL_PATTERN = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const DASHBOARD_NAME_PATTERN = /^[A-Za-z0-9_-]{1,255}$/;
const METRICS_NAMESPACE_PATTERN = /^[A-Za-z0-9._/#:-]{1,255}$/;
const TABLE_NAME_PATTERN = /^[A-Za-z0-9_.-]{3,255}$/;

const MAX_FUNCTION_TIMEOUT_SECONDS = 900;
const MAX_VISIBILITY_TIMEOUT_SECONDS = 43_200;
const MAX_BATCHING_WINDOW_SECONDS = 300;
const MAX_BATCH_SIZE = 10_000;
const SECONDS_PER_DAY = 86_400;

/**
 * Applies the defaults and checks every prop, before anything is built.
 *
 * @throws MailrelayPropsError naming the prop and what is wrong with it
 *
 * @example
 * resolveMailrelayProps({ batchSize: 20 });
 * // MailrelayPropsError: mailrelay: invalid batchSize: 20 is above 10, which the SQS event
 * // source only accepts with a maxBatchingWindow of at least 1 second
 */
/**
 * Stack tags: CloudFormation puts them on the stack and every resource that takes tags. AWS's
 * limits: keys 1–128 characters, values up to 256, `aws:` reserved, at most 50 per resource
 * (the stack adds none of its own).
 */
function checkTags(tags: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
  const entries = Object.entries(tags);
  if (entries.length > 50) throw new MailrelayPropsError('tags', `${entries.length} tags: a resource takes at most 50`);
  const allowed = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;
  for (const [key, value] of entries) {
    if (Token.isUnresolved(key) || Token.isUnresolved(value)) continue;
    if (key.length < 1 || key.length > 128) throw new MailrelayPropsError(`tags.${key}`, 'a tag key must be 1–128 characters');
    if (key.toLowerCase().startsWith('aws:')) throw new MailrelayPropsError(`tags.${key}`, 'keys starting with "aws:" are reserved for AWS');
    if (typeof value !== 'string' || value.length > 256) throw new MailrelayPropsError(`tags.${key}`, 'a tag value must be a string of at most 256 characters');
    if (!allowed.test(key) || !allowed.test(value)) throw new MailrelayPropsError(`tags.${key}`, 'tags may hold letters, digits, spaces and _ . : / = + - @ only');
  }
  return tags;
}

export function resolveMailrelayProps(props: MailrelayStackProps = {}): ResolvedMailrelayProps {
  checkExclusive(props);

  const entry = resolveEntry(props.entry ?? DEFAULT_ENTRY);
  const secretPrefix = checkSecretPrefix(props.secretPrefix ?? DEFAULT_SECRET_PREFIX);
  const secretKmsKeyArns = (props.secretKmsKeyArns ?? []).map((arn, i) => checkKmsKeyArn(`secretKmsKeyArns[${i}]`, arn));
  const producerRoleArns = (props.producerRoleArns ?? []).map((arn, i) => checkRoleArn(`producerRoleArns[${i}]`, arn));

  const functionTimeout = props.functionTimeout ?? MAILRELAY_DEFAULTS.functionTimeout;
  checkSecondsInRange('functionTimeout', functionTimeout, 1, MAX_FUNCTION_TIMEOUT_SECONDS);
  const memorySize = checkInteger('memorySize', props.memorySize ?? MAILRELAY_DEFAULTS.memorySize, 128, 10_240);

  const batchSize = checkInteger('batchSize', props.batchSize ?? MAILRELAY_DEFAULTS.batchSize, 1, MAX_BATCH_SIZE);
  const maxBatchingWindow = props.maxBatchingWindow;
  if (maxBatchingWindow !== undefined) {
    checkSecondsInRange('maxBatchingWindow', maxBatchingWindow, 0, MAX_BATCHING_WINDOW_SECONDS);
  }
  const windowSeconds = maxBatchingWindow === undefined ? 0 : seconds(maxBatchingWindow);
  if (!Token.isUnresolved(batchSize) && batchSize > MAX_BATCH_SIZE_WITHOUT_WINDOW && windowSeconds !== undefined && windowSeconds < 1) {
    throw new MailrelayPropsError(
      'batchSize',
      `${batchSize} is above ${MAX_BATCH_SIZE_WITHOUT_WINDOW}, which the SQS event source only accepts with a maxBatchingWindow of at least 1 second`,
    );
  }
  const maxConcurrency = checkInteger('maxConcurrency', props.maxConcurrency ?? MAILRELAY_DEFAULTS.maxConcurrency, 2, 1000);
  const delivery = deliveryHorizon(props.delivery);
  const maxReceiveCount = checkInteger('maxReceiveCount', props.maxReceiveCount ?? delivery.minimumMaxReceiveCount, 1, 1000);
  if (maxReceiveCount < delivery.minimumMaxReceiveCount) {
    throw new MailrelayPropsError(
      'maxReceiveCount',
      `${maxReceiveCount} is too low for delivery.maxAgeSeconds (${delivery.maxAgeSeconds}) with retries from ${delivery.retryIntervalSeconds} to ` +
        `${delivery.maxRetryIntervalSeconds} seconds: it must be at least ${delivery.minimumMaxReceiveCount}, or SQS moves messages to the DLQ before they expire`,
    );
  }

  const timeoutSeconds = seconds(functionTimeout);
  const minimumVisibility =
    timeoutSeconds === undefined || windowSeconds === undefined
      ? undefined
      : VISIBILITY_TIMEOUT_FACTOR * timeoutSeconds + windowSeconds;
  const visibilityTimeout =
    props.visibilityTimeout ?? (minimumVisibility === undefined ? undefined : Duration.seconds(minimumVisibility));
  if (visibilityTimeout === undefined) {
    throw new MailrelayPropsError(
      'visibilityTimeout',
      'must be set when functionTimeout or maxBatchingWindow is a token, since the minimum cannot be computed',
    );
  }
  checkSecondsInRange('visibilityTimeout', visibilityTimeout, 0, MAX_VISIBILITY_TIMEOUT_SECONDS);
  const visibilitySeconds = seconds(visibilityTimeout);
  if (visibilitySeconds !== undefined && minimumVisibility !== undefined && visibilitySeconds < minimumVisibility) {
    throw new MailrelayPropsError(
      'visibilityTimeout',
      `${visibilitySeconds} seconds is too short: it must be at least ${VISIBILITY_TIMEOUT_FACTOR} × functionTimeout (${timeoutSeconds} seconds)` +
        ` + maxBatchingWindow (${windowSeconds} seconds) = ${minimumVisibility} seconds, so a batch still running is not delivered twice`,
    );
  }

  const retentionPeriod =
    props.retentionPeriod ??
    (delivery.minimumRetentionSeconds <= MAILRELAY_DEFAULTS.retentionPeriod.toSeconds()
      ? MAILRELAY_DEFAULTS.retentionPeriod
      : Duration.seconds(Math.min(MAX_QUEUE_RETENTION_SECONDS, delivery.minimumRetentionSeconds + SECONDS_PER_DAY)));
  const retentionSeconds = seconds(retentionPeriod);
  if (retentionSeconds !== undefined && retentionSeconds < delivery.minimumRetentionSeconds) {
    throw new MailrelayPropsError(
      'retentionPeriod',
      `${retentionSeconds} seconds is shorter than delivery.maxAgeSeconds (${delivery.maxAgeSeconds}) + maxRetryIntervalSeconds ` +
        `(${delivery.maxRetryIntervalSeconds}) + the batching window and one invocation (1200) = ${delivery.minimumRetentionSeconds} seconds: SQS would drop messages the worker still retries`,
    );
  }
  if (retentionSeconds !== undefined && (retentionSeconds < 60 || retentionSeconds >= DEAD_LETTER_RETENTION_DAYS * SECONDS_PER_DAY)) {
    throw new MailrelayPropsError(
      'retentionPeriod',
      `${retentionSeconds} seconds is out of range: it must be at least 60 seconds and shorter than the dead-letter queue's` +
        ` ${DEAD_LETTER_RETENTION_DAYS} days (a message keeps its enqueue time when it moves to the DLQ)`,
    );
  }

  const logLevel = props.logLevel ?? MAILRELAY_DEFAULTS.logLevel;
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new MailrelayPropsError('logLevel', `"${String(logLevel)}" is not one of ${LOG_LEVELS.join(', ')}`);
  }
  const tracing = props.tracing ?? false;
  if (typeof tracing !== 'boolean') throw new MailrelayPropsError('tracing', `must be true or false (got ${JSON.stringify(tracing)})`);
  const tags = checkTags(props.tags ?? {});
  const configCacheTtl = props.configCacheTtl ?? MAILRELAY_DEFAULTS.configCacheTtl;
  checkSecondsInRange('configCacheTtl', configCacheTtl, 0, SECONDS_PER_DAY);
  const secretCacheTtl = props.secretCacheTtl ?? MAILRELAY_DEFAULTS.secretCacheTtl;
  checkSecondsInRange('secretCacheTtl', secretCacheTtl, 0, SECONDS_PER_DAY);

  const serviceName = checkPattern('serviceName', props.serviceName ?? DEFAULT_SERVICE_NAME, /^\S{1,255}$/, 'must be 1–255 characters without spaces');
  const metricsNamespace = checkPattern(
    'metricsNamespace',
    props.metricsNamespace ?? DEFAULT_METRICS_NAMESPACE,
    METRICS_NAMESPACE_PATTERN,
    'must be 1–255 of A-Z a-z 0-9 . _ / # : -',
  );
  if (!Token.isUnresolved(metricsNamespace) && metricsNamespace.startsWith('AWS/')) {
    throw new MailrelayPropsError('metricsNamespace', `"${metricsNamespace}" is reserved: namespaces starting with AWS/ belong to AWS services`);
  }

  const oldestMessageAgeThreshold = props.oldestMessageAgeThreshold ?? MAILRELAY_DEFAULTS.oldestMessageAgeThreshold;
  checkSecondsInRange('oldestMessageAgeThreshold', oldestMessageAgeThreshold, 60, DEAD_LETTER_RETENTION_DAYS * SECONDS_PER_DAY);
  const authFailureThreshold = checkInteger(
    'authFailureThreshold',
    props.authFailureThreshold ?? MAILRELAY_DEFAULTS.authFailureThreshold,
    1,
    Number.MAX_SAFE_INTEGER,
  );

  const alarmEmail = props.alarmEmail === undefined ? undefined : checkPattern('alarmEmail', props.alarmEmail, EMAIL_PATTERN, 'is not an e-mail address');
  const dashboardName =
    props.dashboardName === undefined
      ? undefined
      : checkPattern('dashboardName', props.dashboardName, DASHBOARD_NAME_PATTERN, 'must be 1–255 of A-Z a-z 0-9 _ -');
  const eventBusArn =
    props.eventBusArn === undefined
      ? undefined
      : checkPattern('eventBusArn', props.eventBusArn, /^arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus\/[A-Za-z0-9/._-]{1,256}$/, 'is not an EventBridge event bus ARN');
  const eventBusName =
    props.eventBusName === undefined
      ? undefined
      : checkPattern('eventBusName', props.eventBusName, /^(?!default$)[A-Za-z0-9/._-]{1,256}$/, 'must be 1–256 of A-Z a-z 0-9 / . _ - (and not "default")');
  const configTableName =
    props.configTableName === undefined
      ? undefined
      : checkPattern('configTableName', props.configTableName, TABLE_NAME_PATTERN, 'must be 3–255 of A-Z a-z 0-9 _ . -');

  return {
    entry,
    secretPrefix,
    secretKmsKeyArns,
    producerRoleArns,
    functionTimeout,
    memorySize,
    visibilityTimeout,
    retentionPeriod,
    maxReceiveCount,
    delivery,
    batchSize,
    ...(maxBatchingWindow === undefined ? {} : { maxBatchingWindow }),
    maxConcurrency,
    logRetention: props.logRetention ?? MAILRELAY_DEFAULTS.logRetention,
    logLevel,
    tracing,
    tags,
    configCacheTtl,
    secretCacheTtl,
    serviceName,
    metricsNamespace,
    oldestMessageAgeThreshold,
    authFailureThreshold,
    ...(alarmEmail === undefined ? {} : { alarmEmail }),
    ...(dashboardName === undefined ? {} : { dashboardName }),
    ...(configTableName === undefined ? {} : { configTableName }),
    ...(eventBusArn === undefined ? {} : { eventBusArn }),
    ...(eventBusName === undefined ? {} : { eventBusName }),
    deliveryEventsExampleRule: props.deliveryEventsExampleRule ?? true,
    ...(props.gateway === undefined ? {} : { gateway: resolveGatewayProps(props.gateway, secretPrefix) }),
  };
}

/**
 * The SSM parameter-name prefix matching {@link secretPrefix}: parameter ARNs
 * are `parameter/<name without its leading slash>`, so `/mailrelay/x` and the
 * prefix `mailrelay/` (or `/mailrelay/`) meet at `parameter/mailrelay/`.
 */
export function parameterArnPrefix(secretPrefix: string): string {
  return canonicalPrefix(secretPrefix);
}

function checkExclusive(props: MailrelayStackProps): void {
  const pairs: [keyof MailrelayStackProps, keyof MailrelayStackProps][] = [
    ['encryptionKey', 'encryptionKeyArn'],
    ['alarmTopic', 'alarmTopicArn'],
    ['vpc', 'vpcId'],
    ['vpcSubnets', 'subnetIds'],
    ['securityGroups', 'securityGroupIds'],
    ['producerRoles', 'producerRoleArns'],
    ['eventBus', 'eventBusArn'],
  ];
  for (const [a, b] of pairs) {
    if (props[a] !== undefined && props[b] !== undefined) {
      throw new MailrelayPropsError(a, `set ${a} or ${b}, not both`);
    }
  }
  const hasVpc = props.vpc !== undefined || props.vpcId !== undefined;
  for (const prop of ['vpcSubnets', 'subnetIds', 'securityGroups', 'securityGroupIds'] as const) {
    if (props[prop] !== undefined && !hasVpc) {
      throw new MailrelayPropsError(prop, 'needs a VPC: set vpc (or vpcId) as well');
    }
  }
  if (props.encryptionKeyArn !== undefined) checkKmsKeyArn('encryptionKeyArn', props.encryptionKeyArn);
  if (props.alarmTopicArn !== undefined) {
    checkPattern('alarmTopicArn', props.alarmTopicArn, /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]{1,256}$/, 'is not an SNS topic ARN');
  }
  if (props.eventBusName !== undefined && (props.eventBus !== undefined || props.eventBusArn !== undefined)) {
    throw new MailrelayPropsError('eventBusName', 'names the bus the stack creates: leave it out when passing eventBus or eventBusArn');
  }
}

function resolveEntry(entry: string): string {
  const path = isAbsolute(entry) ? entry : resolve(REPO_ROOT, entry);
  if (!existsSync(path)) {
    throw new MailrelayPropsError('entry', `${path} does not exist (set the entry prop, or -c entry=<path> on the command line)`);
  }
  return path;
}

function checkSecretPrefix(prefix: string): string {
  if (Token.isUnresolved(prefix)) {
    throw new MailrelayPropsError('secretPrefix', 'must be a literal string: IAM policies and the worker both need its value at synth');
  }
  if (!SECRET_PREFIX_PATTERN.test(prefix)) {
    throw new MailrelayPropsError('secretPrefix', `"${prefix}" must be 1–256 of A-Z a-z 0-9 / _ + = . @ - (no wildcards)`);
  }
  if (canonicalPrefix(prefix) === '' || canonicalPrefix(prefix) === '/') {
    throw new MailrelayPropsError('secretPrefix', `"${prefix}" would grant every secret and parameter: it needs a character besides "/"`);
  }
  // The worker applies the same rule at cold start (SECRET_PREFIX).
  const problem = secretPrefixProblem(prefix);
  if (problem) throw new MailrelayPropsError('secretPrefix', problem);
  return prefix;
}

function checkKmsKeyArn(prop: string, arn: string): string {
  if (Token.isUnresolved(arn)) return arn;
  if (!KMS_KEY_ARN_PATTERN.test(arn)) {
    throw new MailrelayPropsError(
      prop,
      `"${arn}" is not a KMS key ARN (arn:aws:kms:<region>:<account>:key/<key-id>; aliases and wildcards are not allowed)`,
    );
  }
  return arn;
}

function checkRoleArn(prop: string, arn: string): string {
  if (Token.isUnresolved(arn)) return arn;
  if (!/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/.test(arn)) {
    throw new MailrelayPropsError(prop, `"${arn}" is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)`);
  }
  return arn;
}

function checkPattern(prop: string, value: string, pattern: RegExp, problem: string): string {
  if (Token.isUnresolved(value)) return value;
  if (!pattern.test(value)) throw new MailrelayPropsError(prop, `"${value}" ${problem}`);
  return value;
}

function checkInteger(prop: string, value: number, min: number, max: number): number {
  if (Token.isUnresolved(value)) return value;
  if (!Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `at least ${min}` : `from ${min} to ${max}`;
    throw new MailrelayPropsError(prop, `${value} is out of range: it must be an integer ${range}`);
  }
  return value;
}

function checkSecondsInRange(prop: string, duration: Duration, min: number, max: number): void {
  const value = seconds(duration);
  if (value === undefined) return;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new MailrelayPropsError(prop, `${value} seconds is out of range: it must be a whole number of seconds from ${min} to ${max}`);
  }
}

/** Whole or fractional seconds, or undefined when the duration is a token. */
function seconds(duration: Duration): number | undefined {
  if (duration.isUnresolved()) return undefined;
  return duration.toMilliseconds() / 1000;
}
