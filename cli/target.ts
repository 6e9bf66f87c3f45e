/**
 * Where the CLI's commands act: AWS (the default credential chain and region; table and queues
 * named by flags or environment variables) or the local stand-ins of a running `npm start`
 * (`--local`, endpoints from its state file). Clients are made on first use and shared.
 */
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import type { S3Client } from '@aws-sdk/client-s3';
import type { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DEFAULT_SECRET_PREFIX, STACK_OUTPUT, WORKER_ENV } from '../lambda/core/names.js';
import { LOCAL_AWS_CREDENTIALS, LOCAL_AWS_REGION, localAwsClientConfig } from '../local/awsClientConfig.js';
import { LocalStateError, readState, stateFilePath, type LocalState } from '../local/state.js';
import type { GlobalValues } from './args.js';
import { CliError, UsageError } from './errors.js';
import type { StackOutputs } from './stackOutputs.js';

/** Environment variables the CLI reads when the matching flag is absent. */
export const ENV = {
  configTable: 'MAILRELAY_CONFIG_TABLE',
  idempotencyTable: 'MAILRELAY_IDEMPOTENCY_TABLE',
  queueUrl: 'MAILRELAY_QUEUE_URL',
  dlqUrl: 'MAILRELAY_DLQ_URL',
  secretPrefix: 'MAILRELAY_SECRET_PREFIX',
  relayCaFile: WORKER_ENV.relayCaFile,
  /** The stack's payload bucket (output PayloadBucketName): `enqueue` and `gateway` offload large bodies to it. */
  payloadBucket: 'MAILRELAY_PAYLOAD_BUCKET',
} as const;

type Env = Readonly<Record<string, string | undefined>>;

export interface Target {
  readonly kind: 'aws' | 'local';
  /** `local stand-ins (pid 1234)` or `AWS (eu-west-1)`: for messages. */
  readonly label: string;
  /** The running stack's state, with `--local`. */
  readonly state?: LocalState | undefined;
  readonly secretPrefix: string;
  configTable(): string;
  idempotencyTable(): string;
  queueUrl(): string;
  dlqUrl(): string;
  /** The payload bucket: `--payload-bucket`, else $MAILRELAY_PAYLOAD_BUCKET, else the local stack's. */
  payloadBucket(flag?: string): string;
  /** The same, or `undefined` when none is named (the gateway then offloads nothing). */
  optionalPayloadBucket(flag?: string): string | undefined;
  /** The clients are imported on first use: the SDK's packages take a while to load. */
  sqs(): Promise<SQSClient>;
  dynamo(): Promise<DynamoDBDocumentClient>;
  secretsManager(): Promise<SecretsManagerClient>;
  ssm(): Promise<SSMClient>;
  s3(): Promise<S3Client>;
  /** CloudWatch (metrics SQS publishes, such as the age of the oldest message); AWS only. */
  cloudWatch(): Promise<CloudWatchClient>;
  /** For function auth hooks (`auth.hookFunction`); honours AWS_ENDPOINT_URL_LAMBDA. */
  lambda(): Promise<LambdaClient>;
  /** CAs to trust for relays: the public ones plus RELAY_CA_FILE / the local test CA. */
  relayCa(extraFile?: string): string[];
  /** Destroys the clients made. */
  close(): void;
}

/**
 * Names come from the flag, else the outputs of `--stack NAME` (read beforehand, see
 * cli/stackOutputs.ts), else the environment variable.
 * @throws UsageError for a missing table/queue name (when a command asks for it), CliError when
 *   `--local` finds no running stack.
 */
export function resolveTarget(command: string, values: GlobalValues, env: Env = process.env, stack?: StackOutputs): Target {
  const made: { destroy(): void }[] = [];
  const once = <T extends { destroy(): void }>(make: () => Promise<T>): (() => Promise<T>) => {
    let client: Promise<T> | undefined;
    return () =>
      (client ??= make().then((c) => {
        made.push(c);
        return c;
      }));
  };
  type Config = Record<string, unknown>;
  const clients = (config: (service: 'sqs' | 'dynamodb' | 'secrets' | 's3') => Config, lambdaConfig: Config) => {
    const dynamodb = once(async () => new (await import('@aws-sdk/client-dynamodb')).DynamoDBClient(config('dynamodb')));
    return {
      sqs: once(async () => new (await import('@aws-sdk/client-sqs')).SQSClient(config('sqs'))),
      dynamo: once(async () => (await import('@aws-sdk/lib-dynamodb')).DynamoDBDocumentClient.from(await dynamodb(), { marshallOptions: { removeUndefinedValues: true } })),
      secretsManager: once(async () => new (await import('@aws-sdk/client-secrets-manager')).SecretsManagerClient(config('secrets'))),
      ssm: once(async () => new (await import('@aws-sdk/client-ssm')).SSMClient(config('secrets'))),
      s3: once(async () => new (await import('@aws-sdk/client-s3')).S3Client(config('s3'))),
      cloudWatch: once(async () => {
        if (values.local) throw new CliError('CloudWatch is not among the stand-ins of npm start', 1);
        return new (await import('@aws-sdk/client-cloudwatch')).CloudWatchClient(config('sqs'));
      }),
      lambda: once(async () => new (await import('@aws-sdk/client-lambda')).LambdaClient(lambdaConfig)),
    };
  };

  if (values.local) {
    let state: LocalState;
    try {
      state = readState(stateFilePath(values['state-file'], env));
    } catch (error) {
      if (error instanceof LocalStateError) throw new CliError(error.message, 1, { cause: error });
      throw error;
    }
    const endpoint = { sqs: state.endpoints.sqs, dynamodb: state.endpoints.dynamodb, secrets: state.endpoints.secrets, s3: state.endpoints.s3 ?? '' };
    return {
      kind: 'local',
      label: `local stand-ins (npm start, pid ${state.pid})`,
      state,
      secretPrefix: state.secretPrefix,
      configTable: () => values['config-table'] ?? state.configTable,
      idempotencyTable: () => values['idempotency-table'] ?? state.idempotencyTable,
      queueUrl: () => values['queue-url'] ?? state.queueUrl,
      dlqUrl: () => values['dlq-url'] ?? state.dlqUrl,
      payloadBucket: (flag) => {
        const found = flag ?? state.payloadBucket;
        if (!found) throw new UsageError('the running npm start has no payload bucket (started before it existed): restart it, or pass --payload-bucket', command);
        return found;
      },
      optionalPayloadBucket: (flag) => flag ?? state.payloadBucket,
      // The S3 stand-in is addressed path-style: <endpoint>/<bucket>/<key>.
      // Function hooks: npm start's Lambda stand-in when it serves any (--auth-hook-function), else
      // AWS_ENDPOINT_URL_LAMBDA may point at one.
      ...clients(
        (service) => ({ ...localAwsClientConfig(endpoint[service], 1), ...(service === 's3' ? { forcePathStyle: true } : {}) }),
        { region: LOCAL_AWS_REGION, credentials: { ...LOCAL_AWS_CREDENTIALS }, maxAttempts: 1, ...(state.endpoints.lambda ? { endpoint: state.endpoints.lambda } : {}) },
      ),
      relayCa: (extraFile) => [...rootCertificates, readFileSync(state.caFile, 'utf8'), ...readCa(command, extraFile)],
      close: () => made.splice(0).forEach((c) => c.destroy()),
    };
  }

  if (values.profile) process.env['AWS_PROFILE'] = values.profile;
  const clientConfig = values.region ? { region: values.region } : {};
  const required = (flag: string, variable: string, value: string | undefined, output: string): string => {
    const found = value ?? (stack ? stack.get(output) : env[variable]?.trim());
    if (stack && !found) throw new CliError(`stack ${values.stack ?? ''} has no ${output} output (pass --${flag})`, 1);
    if (!found) throw new UsageError(`no ${flag.replace(/-/g, ' ')}: pass --${flag}, --stack NAME or set ${variable} (or use --local for the stand-ins of npm start)`, command);
    return found;
  };
  return {
    kind: 'aws',
    label: `AWS${values.region ? ` (${values.region})` : ''}${values.stack ? ` stack ${values.stack}` : ''}`,
    secretPrefix: env[ENV.secretPrefix] ?? stack?.get(STACK_OUTPUT.secretPrefix) ?? env[WORKER_ENV.secretPrefix] ?? DEFAULT_SECRET_PREFIX,
    configTable: () => required('config-table', ENV.configTable, values['config-table'], STACK_OUTPUT.configTableName),
    idempotencyTable: () => required('idempotency-table', ENV.idempotencyTable, values['idempotency-table'], STACK_OUTPUT.idempotencyTableName),
    queueUrl: () => required('queue-url', ENV.queueUrl, values['queue-url'], STACK_OUTPUT.queueUrl),
    dlqUrl: () => required('dlq-url', ENV.dlqUrl, values['dlq-url'], STACK_OUTPUT.deadLetterQueueUrl),
    payloadBucket: (flag) => required('payload-bucket', ENV.payloadBucket, flag, STACK_OUTPUT.payloadBucketName),
    optionalPayloadBucket: (flag) => flag ?? (stack ? stack.get(STACK_OUTPUT.payloadBucketName) : env[ENV.payloadBucket]?.trim() || undefined),
    ...clients(() => ({ ...clientConfig }), { ...clientConfig }),
    relayCa: (extraFile) => [...rootCertificates, ...readCa(command, extraFile ?? env[ENV.relayCaFile]?.trim())],
    close: () => made.splice(0).forEach((c) => c.destroy()),
  };
}

function readCa(command: string, file: string | undefined): string[] {
  if (!file) return [];
  try {
    return [readFileSync(file, 'utf8')];
  } catch (error) {
    throw new UsageError(`cannot read the CA file ${file}: ${(error as Error).message}`, command, { cause: error });
  }
}
