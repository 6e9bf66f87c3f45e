/**
 * Wires the gateway to AWS (or to the local stand-ins, which speak the same protocols): submitter
 * items from the DynamoDB config table, passwords and the TLS certificate from keysources
 * (Secrets Manager, SSM, environment, inline), accepted messages to SQS.
 */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { AwsSecretSource } from '../../../lambda/adapters/awsSecretSource.js';
import { DynamoConfigStore } from '../../../lambda/adapters/dynamoConfigStore.js';
import type { Keysource } from '../../../lambda/core/config/schema.js';
import { resolveKeysource } from '../../../lambda/core/keysources.js';
import type { SecretSource } from '../../../lambda/core/ports.js';
import { SUBMITTER_CACHE_TTL_MS } from '../constants.js';
import { startGateway, type Gateway, type GatewayOptions } from '../gatewayServer.js';
import { SubmitterDirectory } from '../submitterDirectory.js';
import { SqsSubmissionQueue } from './sqsSubmissionQueue.js';

/** Client settings for one AWS service: an endpoint (stand-ins) and region/credentials, or the SDK defaults. */
export interface AwsClientSettings {
  readonly endpoint?: string;
  readonly region?: string;
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
  readonly maxAttempts?: number;
}

export interface AwsGatewayOptions extends Omit<GatewayOptions, 'directory' | 'queue' | 'tls'> {
  readonly queueUrl: string;
  readonly configTable: string;
  /** Secret names and parameters the gateway may read start with it (as the worker's SECRET_PREFIX). */
  readonly secretPrefix: string;
  /** Where the certificate (PEM, chain included) and its private key live. */
  readonly tlsCert: Keysource;
  readonly tlsKey: Keysource;
  readonly sqs?: AwsClientSettings;
  readonly dynamodb?: AwsClientSettings;
  /** Secrets Manager and SSM. */
  readonly secrets?: AwsClientSettings;
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
  const sqs = new SQSClient({ ...options.sqs });
  const dynamoClient = new DynamoDBClient({ ...options.dynamodb });
  const dynamo = DynamoDBDocumentClient.from(dynamoClient);
  const secretsManager = new SecretsManagerClient({ ...options.secrets });
  const ssm = new SSMClient({ ...options.secrets });
  const destroy = (): void => {
    for (const client of [sqs, dynamoClient, secretsManager, ssm]) client.destroy();
  };
  const cacheTtlMs = options.cacheTtlMs ?? SUBMITTER_CACHE_TTL_MS;
  const secretSource = new AwsSecretSource({ secretsManager, ssm, prefix: options.secretPrefix, cacheTtlMs });
  try {
    const [cert, key] = await Promise.all([resolveKeysource(options.tlsCert, secretSource), resolveKeysource(options.tlsKey, secretSource)]);
    const { queueUrl, configTable, secretPrefix: _prefix, tlsCert: _cert, tlsKey: _key, sqs: _sqs, dynamodb: _dynamodb, secrets: _secrets, ...rest } = options;
    const gateway = await startGateway({
      ...rest,
      tls: { cert: cert.secret, key: key.secret },
      directory: new SubmitterDirectory({ config: new DynamoConfigStore({ client: dynamo, tableName: configTable, cacheTtlMs }), secrets: secretSource, cacheTtlMs }),
      queue: new SqsSubmissionQueue({ client: sqs, queueUrl }),
    });
    return {
      host: gateway.host,
      port: gateway.port,
      implicitTlsPort: gateway.implicitTlsPort,
      secretSource,
      async stop() {
        await gateway.stop();
        destroy();
      },
    };
  } catch (error) {
    destroy();
    throw error;
  }
}
