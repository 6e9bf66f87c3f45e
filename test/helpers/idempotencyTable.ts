/**
 * A dynalite with an idempotency table named `idem`, started once for a test file (or describe
 * block) and stopped after it: what the idempotency store's tests each set up the same way. Call it
 * at the top of the file or block; `client()` is the document client, ready in the tests.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll } from 'vitest';
import { localAwsClientConfig } from '../../local/awsClientConfig.js';
import { createIdempotencyTable, startDynamo, type LocalEmulator } from '../../local/emulators.js';

export interface IdempotencyTable {
  readonly tableName: 'idem';
  /** The document client on the table's emulator. */
  client(): DynamoDBDocumentClient;
  /** The emulator's endpoint, for clients built otherwise (a cached-middleware claim client). */
  endpoint(): string;
  /** The stored item, read consistently. */
  item(id: string): Promise<Record<string, unknown> | undefined>;
}

export function idempotencyTable(): IdempotencyTable {
  let dynamo: LocalEmulator | undefined;
  let client: DynamoDBDocumentClient | undefined;
  beforeAll(async () => {
    dynamo = await startDynamo();
    client = DynamoDBDocumentClient.from(new DynamoDBClient(localAwsClientConfig(dynamo.endpoint, 1)));
    await createIdempotencyTable(client as unknown as DynamoDBClient, 'idem');
  });
  afterAll(async () => {
    client?.destroy();
    await dynamo?.stop();
  });
  const ready = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('idempotencyTable() is used before its beforeAll ran');
    return value;
  };
  return {
    tableName: 'idem',
    client: () => ready(client),
    endpoint: () => ready(dynamo).endpoint,
    item: async (id) => (await ready(client).send(new GetCommand({ TableName: 'idem', Key: { id }, ConsistentRead: true }))).Item,
  };
}
