/**
 * Wires the gateway to AWS clients (or to the local stand-ins, which speak the same protocols): submitter
 * items from the DynamoDB config table, passwords and the TLS certificate from keysources
 * (Secrets Manager, SSM, environment, inline), accepted messages to SQS, bodies over 256 KiB to the
 * payload bucket first (S3) when one is named.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { AwsSecretSource } from '../../../lambda/adapters/awsSecretSource.js';
import { DynamoConfigStore } from '../../../lambda/adapters/dynamoConfigStore.js';
import type { Keysource } from '../../../lambda/core/config/schema.js';
import { resolveKeysource } from '../../../lambda/core/keysources.js';
import type { SecretSource } from '../../../lambda/core/ports.js';
import { S3PayloadOffloader } from '../../adapters/s3PayloadOffloader.js';
import { SUBMITTER_CACHE_TTL_MS } from '../constants.js';
import { startGateway, type Gateway, type GatewayOptions } from '../gatewayServer.js';
import { SubmitterDirectory } from '../submitterDirectory.js';
import { SqsSubmissionQueue } from './sqsSubmissionQueue.js';

/** The AWS clients the gateway uses (owned by the caller, who destroys them). */
export interface AwsGatewayClients {
  readonly sqs: Pick<SQSClient, 'send'>;
  readonly dynamo: DynamoDBDocumentClient;
  readonly secretsManager: Pick<SecretsManagerClient, 'send'>;
  readonly ssm: Pick<SSMClient, 'send'>;
  /** Needed with `payloadBucket`. */
  readonly s3?: Pick<S3Client, 'send'> | undefined;
}

export interface AwsGatewayOptions extends Omit<GatewayOptions, 'directory' | 'queue' | 'tls' | 'offload'> {
  readonly queueUrl: string;
  /**
   * The stack's payload bucket (output PayloadBucketName): bodies over 256 KiB are offloaded to it
   * and SIZE becomes the worker's 40 MiB pointer limit. Absent = no offload (SIZE 983,040).
   */
  readonly payloadBucket?: string | undefined;
  readonly configTable: string;
  /** Secret names and parameters the gateway may read start with it (as the worker's SECRET_PREFIX). */
  readonly secretPrefix: string;
  /** Where the certificate (PEM, chain included) and its private key live. */
  readonly tlsCert: Keysource;
  readonly tlsKey: Keysource;
  readonly clients: AwsGatewayClients;
  /** How long submitter items and passwords are cached.  @default SUBMITTER_CACHE_TTL_MS (60 s) */
  readonly cacheTtlMs?: number;
}

/** A running gateway and the clients it owns. */
export interface AwsGateway extends Gateway {
  readonly secretSource: SecretSource;
}

/**
 * @example
 * const gateway = await startAwsGateway({ queueUrl, configTable: 'mailrelay-config', secretPrefix: 'mailrelay/',
 *   tlsCert: { secret: 'mailrelay/gateway-tls', field: 'cert' }, tlsKey: { secret: 'mailrelay/gateway-tls', field: 'key' }, host: '0.0.0.0' });
 */
export async function startAwsGateway(options: AwsGatewayOptions): Promise<AwsGateway> {
  const { sqs, dynamo, secretsManager, ssm, s3 } = options.clients;
  if (options.payloadBucket !== undefined && !s3) throw new Error('a payload bucket needs an S3 client (clients.s3)');
  const cacheTtlMs = options.cacheTtlMs ?? SUBMITTER_CACHE_TTL_MS;
  const secretSource = new AwsSecretSource({ secretsManager, ssm, prefix: options.secretPrefix, cacheTtlMs });
  const [cert, key] = await Promise.all([resolveKeysource(options.tlsCert, secretSource), resolveKeysource(options.tlsKey, secretSource)]);
  const { queueUrl, configTable, payloadBucket, secretPrefix: _prefix, tlsCert: _cert, tlsKey: _key, clients: _clients, ...rest } = options;
  const gateway = await startGateway({
    ...rest,
    tls: { cert: cert.secret, key: key.secret },
    directory: new SubmitterDirectory({ config: new DynamoConfigStore({ client: dynamo, tableName: configTable, cacheTtlMs }), secrets: secretSource, cacheTtlMs }),
    queue: new SqsSubmissionQueue({ client: sqs, queueUrl }),
    ...(payloadBucket !== undefined && s3 && { offload: new S3PayloadOffloader({ client: s3, bucket: payloadBucket }) }),
  });
  return { ...gateway, secretSource };
}
