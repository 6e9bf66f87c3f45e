/**
 * Wires the gateway to AWS clients (or to the local stand-ins, which speak the same protocols): submitter
 * items from the DynamoDB config table, passwords and the TLS certificate from keysources
 * (Secrets Manager, SSM, environment, inline), accepted messages to SQS.
 */
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { AwsSecretSource } from '../../../lambda/adapters/awsSecretSource.js';
import { DynamoConfigStore } from '../../../lambda/adapters/dynamoConfigStore.js';
import type { Keysource } from '../../../lambda/core/config/schema.js';
import { resolveKeysource } from '../../../lambda/core/keysources.js';
import type { SecretSource } from '../../../lambda/core/ports.js';
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
}

export interface AwsGatewayOptions extends Omit<GatewayOptions, 'directory' | 'queue' | 'tls'> {
  readonly queueUrl: string;
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
  const { sqs, dynamo, secretsManager, ssm } = options.clients;
  const cacheTtlMs = options.cacheTtlMs ?? SUBMITTER_CACHE_TTL_MS;
  const secretSource = new AwsSecretSource({ secretsManager, ssm, prefix: options.secretPrefix, cacheTtlMs });
  const [cert, key] = await Promise.all([resolveKeysource(options.tlsCert, secretSource), resolveKeysource(options.tlsKey, secretSource)]);
  const { queueUrl, configTable, secretPrefix: _prefix, tlsCert: _cert, tlsKey: _key, clients: _clients, ...rest } = options;
  const gateway = await startGateway({
    ...rest,
    tls: { cert: cert.secret, key: key.secret },
    directory: new SubmitterDirectory({ config: new DynamoConfigStore({ client: dynamo, tableName: configTable, cacheTtlMs }), secrets: secretSource, cacheTtlMs }),
    queue: new SqsSubmissionQueue({ client: sqs, queueUrl }),
  });
  return { ...gateway, secretSource };
}
