/**
 * The whole AWS side on loopback for integration tests: dynalite (config + idempotency tables),
 * fauxqs (queue + DLQ), the Secrets Manager/SSM endpoint; and the environment the real handler
 * reads, so `await import('lambda/handlers/relay.ts')` runs against them.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ReceiveMessageCommand, SendMessageBatchCommand, SQSClient, type Message } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { fileURLToPath } from 'node:url';
import { localAwsClientConfig } from '../../local/awsClientConfig.js';
import { createConfigTable, createIdempotencyTable, createRelayStateTable, createQueues, startDynamo, startSqs, type CreatedQueues, type LocalEmulator } from '../../local/emulators.js';
import { startS3Endpoint, type S3Endpoint } from '../../local/s3Endpoint.js';
import { startSecretsEndpoint, type SecretsEndpoint } from '../../local/secretsEndpoint.js';

/** The payload bucket of the local world (PAYLOAD_BUCKET_NAME): pointer bodies are read from it only. */
export const PAYLOAD_BUCKET = 'mailrelay-payloads';

export interface LocalWorld {
  readonly dynamo: LocalEmulator;
  readonly sqsEmulator: LocalEmulator;
  readonly secrets: SecretsEndpoint;
  /** The S3 stand-in holding {@link PAYLOAD_BUCKET}. */
  readonly s3: S3Endpoint;
  readonly sqs: SQSClient;
  readonly documents: DynamoDBDocumentClient;
  readonly queues: CreatedQueues;
  readonly configTable: string;
  readonly idempotencyTable: string;
  putConfig(item: { scope: string } & Record<string, unknown>): Promise<void>;
  enqueue(bodies: string[]): Promise<string[]>;
  drainDlq(): Promise<Message[]>;
  stop(): Promise<void>;
}

export const CA_FILE = fileURLToPath(new URL('../../local/certs/ca.pem', import.meta.url));

export async function startLocalWorld(options: { secrets?: Record<string, string>; maxReceiveCount?: number; env?: Record<string, string> } = {}): Promise<LocalWorld> {
  const dynamo = await startDynamo();
  const sqsEmulator = await startSqs();
  const secrets = await startSecretsEndpoint({ secrets: options.secrets ?? {} });
  const s3 = await startS3Endpoint({ buckets: [PAYLOAD_BUCKET] });
  const dynamoClient = new DynamoDBClient(localAwsClientConfig(dynamo.endpoint, 1));
  const documents = DynamoDBDocumentClient.from(dynamoClient);
  const sqs = new SQSClient(localAwsClientConfig(sqsEmulator.endpoint, 1));
  const configTable = 'mailrelay-config';
  const idempotencyTable = 'mailrelay-idempotency';
  await createConfigTable(dynamoClient, configTable);
  await createIdempotencyTable(dynamoClient, idempotencyTable);
  const relayStateTable = 'mailrelay-relay-state';
  await createRelayStateTable(dynamoClient, relayStateTable);
  const maxReceiveCount = options.maxReceiveCount ?? 3;
  const queues = await createQueues(sqs, { name: 'mailrelay', maxReceiveCount, visibilityTimeout: 30 });

  Object.assign(process.env, {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_MAX_ATTEMPTS: '1',
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    AWS_ENDPOINT_URL_SQS: sqsEmulator.endpoint,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url,
    AWS_ENDPOINT_URL_SSM: secrets.url,
    AWS_ENDPOINT_URL_S3: s3.url,
    PAYLOAD_BUCKET_NAME: PAYLOAD_BUCKET,
    CONFIG_TABLE_NAME: configTable,
    IDEMPOTENCY_TABLE_NAME: idempotencyTable,
    RELAY_STATE_TABLE_NAME: relayStateTable,
    // A compressed clock: a relay that refused is suspended for 50 ms, not 30 s, so tests that
    // retry at once still reach it; the outage tests set their own.
    ROUTE_SUSPENSION_SECONDS: '0.05',
    ROUTE_SUSPENSION_MAX_SECONDS: '0.2',
    ROUTE_PROBE_SECONDS: '2',
    RELAY_STATE_CACHE_SECONDS: '0',
    QUEUE_URL: queues.queueUrl,
    DEAD_LETTER_QUEUE_URL: queues.dlqUrl,
    SECRET_PREFIX: 'mailrelay/',
    CONFIG_CACHE_TTL_SECONDS: '0',
    MAX_RECEIVE_COUNT: String(maxReceiveCount),
    RELAY_CA_FILE: CA_FILE,
    POWERTOOLS_SERVICE_NAME: 'mailrelay',
    POWERTOOLS_METRICS_NAMESPACE: 'Mailrelay',
    ...options.env,
  });

  return {
    dynamo,
    sqsEmulator,
    secrets,
    s3,
    sqs,
    documents,
    queues,
    configTable,
    idempotencyTable,
    async putConfig(item) {
      await documents.send(new PutCommand({ TableName: configTable, Item: item }));
    },
    async enqueue(bodies) {
      const ids: string[] = [];
      for (let i = 0; i < bodies.length; i += 10) {
        const chunk = bodies.slice(i, i + 10);
        const response = await sqs.send(
          new SendMessageBatchCommand({ QueueUrl: queues.queueUrl, Entries: chunk.map((body, j) => ({ Id: String(j), MessageBody: body })) }),
        );
        for (const ok of response.Successful ?? []) ids[i + Number(ok.Id)] = ok.MessageId!;
      }
      return ids;
    },
    async drainDlq() {
      const out: Message[] = [];
      for (let i = 0; i < 20; i++) {
        const response = await sqs.send(
          new ReceiveMessageCommand({ QueueUrl: queues.dlqUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, MessageAttributeNames: ['All'], VisibilityTimeout: 60 }),
        );
        if (!response.Messages?.length) break;
        out.push(...response.Messages);
      }
      return out;
    },
    async stop() {
      sqs.destroy();
      dynamoClient.destroy();
      await Promise.all([dynamo.stop(), sqsEmulator.stop(), secrets.stop(), s3.stop()]);
    },
  };
}
