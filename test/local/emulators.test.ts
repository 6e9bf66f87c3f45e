import { BatchGetItemCommand, ConditionalCheckFailedException, DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { Message } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localAwsClientConfig } from '../../local/awsClientConfig.js';
import { createConfigTable, createIdempotencyTable, createQueues, startDynamo, startSqs } from '../../local/emulators.js';
import type { LocalEmulator } from '../../local/emulators.js';

describe('startDynamo (dynalite) with the real DynamoDB client', () => {
  let dynamo: LocalEmulator;
  let client: DynamoDBClient;

  beforeAll(async () => {
    dynamo = await startDynamo();
    client = new DynamoDBClient(localAwsClientConfig(dynamo.endpoint, 1));
    await createConfigTable(client, 'config');
    await createIdempotencyTable(client, 'idempotency');
  });
  afterAll(async () => {
    client.destroy();
    await dynamo.stop();
  });

  it('binds 127.0.0.1 on an ephemeral port', () => {
    expect(dynamo.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(dynamo.port).toBeGreaterThan(0);
  });

  it('puts, gets and batch-gets config items by scope', async () => {
    // Prepare
    await client.send(new PutItemCommand({ TableName: 'config', Item: { scope: { S: 'global' }, relay: { M: { host: { S: 'smtp.example' } } } } }));
    await client.send(new PutItemCommand({ TableName: 'config', Item: { scope: { S: 'domain#partner.example' }, auth: { M: { type: { S: 'LOGIN' } } } } }));

    // Act
    const one = await client.send(new GetItemCommand({ TableName: 'config', Key: { scope: { S: 'global' } }, ConsistentRead: true }));
    const batch = await client.send(
      new BatchGetItemCommand({
        RequestItems: { config: { Keys: ['global', 'domain#partner.example', 'binding#absent'].map((s) => ({ scope: { S: s } })) } },
      }),
    );

    // Assess
    expect(one.Item?.relay?.M?.host?.S).toBe('smtp.example');
    expect(batch.Responses?.config?.map((item) => item.scope?.S).sort()).toEqual(['domain#partner.example', 'global']);
    expect(batch.UnprocessedKeys ?? {}).toEqual({});
  });

  it('refuses a second conditional put of the same idempotency key', async () => {
    // Prepare
    const put = () =>
      client.send(
        new PutItemCommand({
          TableName: 'idempotency',
          Item: { id: { S: 'order-1234' }, status: { S: 'IN_PROGRESS' }, expiresAt: { N: '4102444800' } },
          ConditionExpression: 'attribute_not_exists(id)',
        }),
      );
    await put();

    // Act
    const second = await put().catch((err: unknown) => err);

    // Assess
    expect(second).toBeInstanceOf(ConditionalCheckFailedException);
  });

  it('works through the lib-dynamodb document client', async () => {
    // Prepare
    const doc = DynamoDBDocumentClient.from(client);

    // Act
    await doc.send(new PutCommand({ TableName: 'config', Item: { scope: 'binding#acme', group: 'eu', limits: { maxConnections: 4 } } }));
    const { Item } = await doc.send(new GetCommand({ TableName: 'config', Key: { scope: 'binding#acme' } }));

    // Assess
    expect(Item).toEqual({ scope: 'binding#acme', group: 'eu', limits: { maxConnections: 4 } });
  });
});

describe('startSqs (fauxqs) with the real SQS client', () => {
  let sqs: LocalEmulator;
  let client: SQSClient;

  beforeAll(async () => {
    sqs = await startSqs();
    client = new SQSClient(localAwsClientConfig(sqs.endpoint, 1));
  });
  afterAll(async () => {
    client.destroy();
    await sqs.stop();
  });

  const receive = async (queueUrl: string, visibilityTimeout?: number): Promise<Message[]> =>
    (
      await client.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: 10,
          MessageAttributeNames: ['All'],
          MessageSystemAttributeNames: ['ApproximateReceiveCount'],
          VisibilityTimeout: visibilityTimeout,
        }),
      )
    ).Messages ?? [];

  it('creates a queue and its DLQ with resolvable URLs and a redrive policy', async () => {
    // Act
    const queues = await createQueues(client, { name: 'create-test', maxReceiveCount: 4, visibilityTimeout: 45 });
    const { Attributes } = await client.send(new GetQueueAttributesCommand({ QueueUrl: queues.queueUrl, AttributeNames: ['All'] }));

    // Assess
    expect(queues.queueUrl).toBe(`${sqs.endpoint}/000000000000/create-test`);
    expect(queues.dlqUrl).toBe(`${sqs.endpoint}/000000000000/create-test-dlq`);
    expect(queues.dlqArn).toBe('arn:aws:sqs:us-east-1:000000000000:create-test-dlq');
    expect(Attributes?.VisibilityTimeout).toBe('45');
    expect(JSON.parse(Attributes?.RedrivePolicy ?? '{}')).toMatchObject({ deadLetterTargetArn: queues.dlqArn, maxReceiveCount: 4 });
  });

  it('serves a client configured only through AWS_ENDPOINT_URL_SQS (queue URLs resolve)', async () => {
    // Prepare
    const { queueUrl } = await createQueues(client, { name: 'env-configured' });
    const saved = process.env.AWS_ENDPOINT_URL_SQS;
    process.env.AWS_ENDPOINT_URL_SQS = sqs.endpoint;
    const { endpoint: _unused, ...withoutEndpoint } = localAwsClientConfig(sqs.endpoint, 1);
    const fromEnv = new SQSClient(withoutEndpoint);

    try {
      // Act
      await fromEnv.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'via env' }));
      const { Messages } = await fromEnv.send(new ReceiveMessageCommand({ QueueUrl: queueUrl }));

      // Assess
      expect(Messages?.map((m) => m.Body)).toEqual(['via env']);
    } finally {
      fromEnv.destroy();
      if (saved === undefined) delete process.env.AWS_ENDPOINT_URL_SQS;
      else process.env.AWS_ENDPOINT_URL_SQS = saved;
    }
  });

  it('round-trips a message with attributes, hides it, and deletes it', async () => {
    // Prepare
    const { queueUrl } = await createQueues(client, { name: 'roundtrip' });
    await client.send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: '{"to":["bob@example.net"]}',
        MessageAttributes: {
          reason: { DataType: 'String', StringValue: 'PermanentDeliveryError' },
          smtpCode: { DataType: 'Number', StringValue: '550' },
        },
      }),
    );

    // Act
    const [first] = await receive(queueUrl, 30);
    const whileHidden = await receive(queueUrl);
    await client.send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: first?.ReceiptHandle, VisibilityTimeout: 0 }));
    const [again] = await receive(queueUrl, 30);
    await client.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: again?.ReceiptHandle }));
    await client.send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: again?.ReceiptHandle, VisibilityTimeout: 0 })).catch(() => undefined);
    const afterDelete = await receive(queueUrl);

    // Assess
    expect(first?.Body).toBe('{"to":["bob@example.net"]}');
    expect(first?.MessageAttributes?.reason).toMatchObject({ DataType: 'String', StringValue: 'PermanentDeliveryError' });
    expect(first?.MessageAttributes?.smtpCode).toMatchObject({ DataType: 'Number', StringValue: '550' });
    expect(first?.Attributes?.ApproximateReceiveCount).toBe('1');
    expect(whileHidden).toEqual([]);
    expect(again?.MessageId).toBe(first?.MessageId);
    expect(again?.Attributes?.ApproximateReceiveCount).toBe('2');
    expect(afterDelete).toEqual([]);
  });

  it('sends and deletes in batches', async () => {
    // Prepare
    const { queueUrl } = await createQueues(client, { name: 'batch' });
    await client.send(
      new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: ['a', 'b', 'c'].map((id) => ({ Id: id, MessageBody: `body-${id}` })) }),
    );

    // Act
    const received = await receive(queueUrl, 30);
    const deleted = await client.send(
      new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: received.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })) }),
    );

    // Assess
    expect(received.map((m) => m.Body).sort()).toEqual(['body-a', 'body-b', 'body-c']);
    expect(deleted.Successful).toHaveLength(3);
    expect(deleted.Failed ?? []).toEqual([]);
  });

  it('moves a message to the DLQ after maxReceiveCount receives', async () => {
    // Prepare
    const { queueUrl, dlqUrl } = await createQueues(client, { name: 'redrive', maxReceiveCount: 2, visibilityTimeout: 30 });
    await client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'poison' }));

    // Act: receive and give back at once, as a failing worker would after its visibility timeout
    const receiveCounts: string[] = [];
    for (let attempt = 0; attempt < 5; attempt++) {
      const [message] = await receive(queueUrl);
      if (!message) break;
      receiveCounts.push(message.Attributes?.ApproximateReceiveCount ?? '?');
      await client.send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle, VisibilityTimeout: 0 }));
    }
    const deadLettered = await receive(dlqUrl);

    // Assess
    expect(receiveCounts).toEqual(['1', '2']);
    expect(deadLettered.map((m) => m.Body)).toEqual(['poison']);
  });
});
