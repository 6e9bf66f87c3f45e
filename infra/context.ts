import { Duration } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { MailrelayPropsError } from './errors.js';
import type { GatewayStackProps } from './gatewayProps.js';
import type { MailrelayStackProps, RelayLogLevel } from './mailrelayStackProps.js';

/** The stack's construct id / CloudFormation stack name when no `stackName` context is given. */
export const DEFAULT_STACK_NAME = 'Mailrelay';

/** What {@link readMailrelayContext} found. */
export interface MailrelayContext {
  readonly stackName: string;
  readonly props: MailrelayStackProps;
}

/**
 * Context keys the app reads (`cdk deploy -c key=value`, or `context` in
 * cdk.json), and how each one maps to a {@link MailrelayStackProps} prop.
 * Values from the command line arrive as strings; lists are comma-separated.
 */
export const CONTEXT_KEYS = [
  'stackName',
  'entry',
  'secretPrefix',
  'secretKmsKeyArns',
  'producerRoleArns',
  'encryptionKeyArn',
  'functionTimeoutSeconds',
  'memorySize',
  'visibilityTimeoutSeconds',
  'retentionPeriodDays',
  'maxReceiveCount',
  'batchSize',
  'maxBatchingWindowSeconds',
  'maxConcurrency',
  'logRetentionDays',
  'logLevel',
  'tracing',
  'tags',
  'configCacheTtlSeconds',
  'secretCacheTtlSeconds',
  'serviceName',
  'metricsNamespace',
  'vpcId',
  'subnetIds',
  'securityGroupIds',
  'alarmTopicArn',
  'alarmEmail',
  'oldestMessageAgeMinutes',
  'authFailureThreshold',
  'dashboardName',
  'configTableName',
  'eventBusArn',
  'eventBusName',
  'deliveryEventsExampleRule',
  'gatewayImage',
  'gatewayTlsCert',
  'gatewayTlsKey',
  'gatewayMinCapacity',
  'gatewayMaxCapacity',
] as const;

export type MailrelayContextKey = (typeof CONTEXT_KEYS)[number];

/**
 * Reads the app's context into stack props; absent keys keep the stack's
 * defaults, so the props carry only what was set.
 *
 * @param get - how to read one key, e.g. `(key) => app.node.tryGetContext(key)`
 * @throws MailrelayPropsError when a value has the wrong shape (`batchSize=abc`)
 *
 * @example
 * const { stackName, props } = readMailrelayContext((key) => app.node.tryGetContext(key));
 */
export function readMailrelayContext(get: (key: MailrelayContextKey) => unknown): MailrelayContext {
  const reader = new ContextReader(get);
  const seconds = (key: MailrelayContextKey) => optional(reader.integer(key), Duration.seconds);
  const props: MailrelayStackProps = compact({
    entry: reader.string('entry'),
    secretPrefix: reader.string('secretPrefix'),
    secretKmsKeyArns: reader.list('secretKmsKeyArns'),
    producerRoleArns: reader.list('producerRoleArns'),
    encryptionKeyArn: reader.string('encryptionKeyArn'),
    functionTimeout: seconds('functionTimeoutSeconds'),
    memorySize: reader.integer('memorySize'),
    visibilityTimeout: seconds('visibilityTimeoutSeconds'),
    retentionPeriod: optional(reader.integer('retentionPeriodDays'), Duration.days),
    maxReceiveCount: reader.integer('maxReceiveCount'),
    batchSize: reader.integer('batchSize'),
    maxBatchingWindow: seconds('maxBatchingWindowSeconds'),
    maxConcurrency: reader.integer('maxConcurrency'),
    logRetention: reader.logRetention('logRetentionDays'),
    logLevel: reader.string('logLevel') as RelayLogLevel | undefined,
    tracing: reader.boolean('tracing'),
    tags: reader.tags('tags'),
    configCacheTtl: seconds('configCacheTtlSeconds'),
    secretCacheTtl: seconds('secretCacheTtlSeconds'),
    serviceName: reader.string('serviceName'),
    metricsNamespace: reader.string('metricsNamespace'),
    vpcId: reader.string('vpcId'),
    subnetIds: reader.list('subnetIds'),
    securityGroupIds: reader.list('securityGroupIds'),
    alarmTopicArn: reader.string('alarmTopicArn'),
    alarmEmail: reader.string('alarmEmail'),
    oldestMessageAgeThreshold: optional(reader.integer('oldestMessageAgeMinutes'), Duration.minutes),
    authFailureThreshold: reader.integer('authFailureThreshold'),
    dashboardName: reader.string('dashboardName'),
    configTableName: reader.string('configTableName'),
    eventBusArn: reader.string('eventBusArn'),
    eventBusName: reader.string('eventBusName'),
    deliveryEventsExampleRule: reader.boolean('deliveryEventsExampleRule'),
    gateway: gatewayContext(reader),
  });
  return { stackName: reader.string('stackName') ?? DEFAULT_STACK_NAME, props };
}

/** The gateway is on when `gatewayImage` is set; its TLS keysources are then required (the props check says so). */
function gatewayContext(reader: ContextReader): GatewayStackProps | undefined {
  const image = reader.string('gatewayImage');
  const tlsCert = reader.string('gatewayTlsCert');
  const tlsKey = reader.string('gatewayTlsKey');
  if (image === undefined) {
    if (tlsCert !== undefined || tlsKey !== undefined) throw new MailrelayPropsError('context "gatewayImage"', 'is required with gatewayTlsCert / gatewayTlsKey');
    return undefined;
  }
  return compact({ image, tlsCert: tlsCert ?? '', tlsKey: tlsKey ?? '', minCapacity: reader.integer('gatewayMinCapacity'), maxCapacity: reader.integer('gatewayMaxCapacity') });
}

class ContextReader {
  public constructor(private readonly get: (key: MailrelayContextKey) => unknown) {}

  public string(key: MailrelayContextKey): string | undefined {
    const value = this.get(key);
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value !== 'string') throw contextError(key, value, 'a string');
    return value;
  }

  public integer(key: MailrelayContextKey): number | undefined {
    const value = this.get(key);
    if (value === undefined || value === null || value === '') return undefined;
    const number = typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : value;
    if (typeof number !== 'number' || !Number.isInteger(number)) throw contextError(key, value, 'an integer');
    return number;
  }

  public boolean(key: MailrelayContextKey): boolean | undefined {
    const value = this.get(key);
    if (value === undefined || value === null || value === '') return undefined;
    if (value === true || value === 'true') return true;
    if (value === false || value === 'false') return false;
    throw contextError(key, value, 'true or false');
  }

  public list(key: MailrelayContextKey): string[] | undefined {
    const value = this.get(key);
    if (value === undefined || value === null || value === '') return undefined;
    const items = typeof value === 'string' ? value.split(',') : value;
    if (!Array.isArray(items) || !items.every((item) => typeof item === 'string')) {
      throw contextError(key, value, 'a comma-separated list or an array of strings');
    }
    return items.map((item) => item.trim()).filter((item) => item !== '');
  }

  /** `Team=mail,CostCenter=42` from the command line, or an object in cdk.json. */
  public tags(key: MailrelayContextKey): Record<string, string> | undefined {
    const value = this.get(key);
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value === 'string') {
      const tags: Record<string, string> = {};
      for (const pair of value.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
        const at = pair.indexOf('=');
        if (at < 1) throw contextError(key, value, 'KEY=VALUE pairs separated by commas');
        tags[pair.slice(0, at).trim()] = pair.slice(at + 1).trim();
      }
      return tags;
    }
    if (typeof value === 'object' && !Array.isArray(value) && Object.values(value).every((v) => typeof v === 'string')) return value as Record<string, string>;
    throw contextError(key, value, 'KEY=VALUE pairs separated by commas, or an object of strings');
  }

  public logRetention(key: MailrelayContextKey): RetentionDays | undefined {
    const days = this.integer(key);
    if (days === undefined) return undefined;
    const allowed = Object.values(RetentionDays).filter((v): v is number => typeof v === 'number');
    if (!allowed.includes(days)) {
      throw contextError(key, days, `one of the retention periods CloudWatch Logs offers (${allowed.join(', ')}; 9999 keeps logs forever)`);
    }
    return days as RetentionDays;
  }
}

function contextError(key: string, value: unknown, expected: string): MailrelayPropsError {
  return new MailrelayPropsError(`context "${key}"`, `${JSON.stringify(value)} is not ${expected}`);
}

function optional<T, R>(value: T | undefined, map: (value: T) => R): R | undefined {
  return value === undefined ? undefined : map(value);
}

/** Drops undefined values, so absent context keys leave the stack defaults in place. */
function compact<T extends object>(props: T): T {
  return Object.fromEntries(Object.entries(props).filter(([, value]) => value !== undefined)) as T;
}
