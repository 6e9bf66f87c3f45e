import { createRequire } from 'node:module';
import type { Server } from 'node:http';
import { CreateTableCommand, DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateQueueCommand, GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { buildApp } from 'fauxqs';
import { LOCAL_AWS_REGION } from './awsClientConfig.js';
import { listenOnLoopback } from './loopback.js';

/**
 * In-process AWS emulators for tests, `npm start` and the benchmark: DynamoDB (dynalite, in
 * memory) and SQS (fauxqs), each on 127.0.0.1 and an ephemeral port by default. Point the real
 * SDK clients at `endpoint` (see `localAwsClientConfig`).
 *
 * Known emulator gaps (checked against dynalite 4.0 and fauxqs 1.9):
 * - dynalite implements BatchGetItem, BatchWriteItem, CreateTable, DeleteItem, DeleteTable,
 *   DescribeTable, DescribeTimeToLive, GetItem, ListTables, PutItem, Query, Scan, UpdateItem,
 *   UpdateTable and tagging. It has NO TransactWriteItems / TransactGetItems, NO UpdateTimeToLive
 *   (so TTL attributes are stored but never expire) and NO PartiQL (ExecuteStatement).
 *   Conditional writes (ConditionExpression → ConditionalCheckFailedException) work.
 * - fauxqs implements the SQS JSON protocol, message attributes, ChangeMessageVisibility and the
 *   RedrivePolicy (a message received more than maxReceiveCount times moves to the DLQ on the
 *   next receive), SendMessageBatch / DeleteMessageBatch and long polling (WaitTimeSeconds).
 *   Queue URLs: see {@link startSqs}.
 */

/** A running emulator. */
export interface LocalEmulator {
  /** `http://127.0.0.1:<port>`: the `endpoint` for the SDK client. */
  readonly endpoint: string;
  readonly port: number;
  /** Closes the server and every connection; resolves when all is released. */
  stop(): Promise<void>;
}

/** Options of {@link startDynamo} and {@link startSqs}. */
export interface EmulatorOptions {
  /** Port to bind on 127.0.0.1.  @default 0 (ephemeral) */
  port?: number;
}

interface DynaliteOptions {
  createTableMs?: number;
  deleteTableMs?: number;
  updateTableMs?: number;
  path?: string;
}
type DynaliteFactory = (options?: DynaliteOptions) => Server;

// dynalite is CommonJS without type declarations
const dynalite = createRequire(import.meta.url)('dynalite') as DynaliteFactory;

async function listen(server: Server, port: number): Promise<number> {
  return (await listenOnLoopback(server, port)).port;
}

/**
 * Starts dynalite (DynamoDB, in memory, tables ACTIVE at once) on 127.0.0.1.
 *
 * @example
 * ```ts
 * const dynamo = await startDynamo();
 * const client = new DynamoDBClient(localAwsClientConfig(dynamo.endpoint));
 * await createConfigTable(client, 'mailrelay-config');
 * await dynamo.stop();
 * ```
 */
export async function startDynamo(options: EmulatorOptions = {}): Promise<LocalEmulator> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  const port = await listen(server, options.port ?? 0);
  let stopping: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    stop() {
      stopping ??= new Promise<void>((resolve, reject) => {
        // dynalite's close() also closes the in-memory store once the HTTP server is closed
        server.close((err?: Error) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
      return stopping;
    },
  };
}

/**
 * Starts fauxqs (SQS) on 127.0.0.1. Built with fauxqs' `buildApp` rather than `startFauxqs`,
 * which always listens on 0.0.0.0.
 *
 * fauxqs names its queues `http://sqs.<region>.localhost:<port>/000000000000/<name>`, a host name
 * that does not resolve here. The SDK sends requests to the QueueUrl's host unless the client has
 * an explicit `endpoint` (it does not count `AWS_ENDPOINT_URL_SQS`), so this wrapper rewrites the
 * URLs at the HTTP boundary: clients only ever see `http://127.0.0.1:<port>/000000000000/<name>`.
 *
 * @example
 * ```ts
 * const sqs = await startSqs();
 * const client = new SQSClient(localAwsClientConfig(sqs.endpoint));
 * const { queueUrl, dlqUrl } = await createQueues(client, { name: 'mailrelay' });
 * await sqs.stop();
 * ```
 */
export async function startSqs(options: EmulatorOptions = {}): Promise<LocalEmulator> {
  const app = buildApp({ logger: false });
  let port = 0;
  const localPrefix = (): string => `http://127.0.0.1:${port}/`;
  const fauxqsUrl = /http:\/\/sqs\.[a-z0-9-]+\.localhost:(\d+)\//g;
  const toFauxqs = (url: string, region: string): string =>
    url.startsWith(localPrefix()) ? `http://sqs.${region}.localhost:${port}/${url.slice(localPrefix().length)}` : url;

  app.addHook('preHandler', (request, _reply, done) => {
    const body = request.body as Record<string, unknown> | undefined;
    if (body && typeof body === 'object' && typeof body.QueueUrl === 'string') {
      // the region fauxqs put in the URL is the one of the request's SigV4 credential scope
      const auth = String(request.headers.authorization ?? '');
      const region = /Credential=[^/]+\/\d{8}\/([a-z0-9-]+)\//.exec(auth)?.[1] ?? LOCAL_AWS_REGION;
      body.QueueUrl = toFauxqs(body.QueueUrl, region);
    }
    done();
  });
  app.addHook('onSend', (_request, _reply, payload, done) => {
    done(null, typeof payload === 'string' ? payload.replace(fauxqsUrl, (match, p: string) => (p === String(port) ? localPrefix() : match)) : payload);
  });

  await app.listen({ port: options.port ?? 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('fauxqs: no TCP address');
  port = address.port;
  let stopping: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    stop() {
      // fastify is built with forceCloseConnections; its preClose hook stops fauxqs' poll timers
      stopping ??= app.close().then(() => undefined);
      return stopping;
    },
  };
}

/** How long the table helpers wait for a table to become ACTIVE. */
const TABLE_ACTIVE_TIMEOUT_MS = 5_000;
const TABLE_POLL_MS = 20;

async function createTable(client: DynamoDBClient, name: string, key: string): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName: name,
      AttributeDefinitions: [{ AttributeName: key, AttributeType: 'S' }],
      KeySchema: [{ AttributeName: key, KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  const deadline = Date.now() + TABLE_ACTIVE_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: name }));
    if (Table?.TableStatus === 'ACTIVE') return;
    await new Promise((resolve) => setTimeout(resolve, TABLE_POLL_MS));
  }
  throw new Error(`table ${name} not ACTIVE after ${TABLE_ACTIVE_TIMEOUT_MS} ms`);
}

/** Creates the config table (partition key `scope`, string) and waits until it is ACTIVE. */
export function createConfigTable(client: DynamoDBClient, name: string): Promise<void> {
  return createTable(client, name, 'scope');
}

/** Creates the idempotency table (partition key `id`, string) and waits until it is ACTIVE. */
export function createIdempotencyTable(client: DynamoDBClient, name: string): Promise<void> {
  return createTable(client, name, 'id');
}

/** Creates the relay-state table (partition key `pk`, string: fleet-wide suspensions) and waits until it is ACTIVE. */
export function createRelayStateTable(client: DynamoDBClient, name: string): Promise<void> {
  return createTable(client, name, 'pk');
}

/** Options of {@link createQueues}. */
export interface CreateQueuesOptions {
  /** Name of the main queue. */
  name: string;
  /** Name of the dead-letter queue.  @default `${name}-dlq` */
  dlqName?: string;
  /** Receives before a message moves to the DLQ.  @default 3 */
  maxReceiveCount?: number;
  /** Visibility timeout of the main queue, in seconds.  @default 30 */
  visibilityTimeout?: number;
}

/** The queues {@link createQueues} made. */
export interface CreatedQueues {
  queueUrl: string;
  queueArn: string;
  dlqUrl: string;
  dlqArn: string;
}

/** Creates a DLQ and a main queue whose RedrivePolicy points at it. Idempotent for equal options. */
export async function createQueues(client: SQSClient, options: CreateQueuesOptions): Promise<CreatedQueues> {
  const dlqName = options.dlqName ?? `${options.name}-dlq`;
  const dlq = await client.send(new CreateQueueCommand({ QueueName: dlqName }));
  if (!dlq.QueueUrl) throw new Error(`CreateQueue ${dlqName} returned no QueueUrl`);
  const dlqArn = await queueArn(client, dlq.QueueUrl);
  const main = await client.send(
    new CreateQueueCommand({
      QueueName: options.name,
      Attributes: {
        VisibilityTimeout: String(options.visibilityTimeout ?? 30),
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: options.maxReceiveCount ?? 3 }),
      },
    }),
  );
  if (!main.QueueUrl) throw new Error(`CreateQueue ${options.name} returned no QueueUrl`);
  return { queueUrl: main.QueueUrl, queueArn: await queueArn(client, main.QueueUrl), dlqUrl: dlq.QueueUrl, dlqArn };
}

async function queueArn(client: SQSClient, queueUrl: string): Promise<string> {
  const { Attributes } = await client.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }));
  const arn = Attributes?.QueueArn;
  if (!arn) throw new Error(`no QueueArn for ${queueUrl}`);
  return arn;
}
