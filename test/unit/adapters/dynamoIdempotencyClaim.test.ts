/**
 * DynamoIdempotencyStore.claim through a low-level client built with `cacheMiddleware: true` (as
 * createWorker builds it): the SDK resolves the claim's middleware stack once, and every claim
 * must still send its own key and values. On dynalite.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoIdempotencyStore } from '../../../lambda/adapters/dynamoIdempotencyStore.js';
import { localAwsClientConfig } from '../../../local/awsClientConfig.js';
import { createIdempotencyTable, startDynamo, type LocalEmulator } from '../../../local/emulators.js';

describe('claim with a cached-middleware client', () => {
  let dynamo: LocalEmulator;
  let client: DynamoDBDocumentClient;
  let claimClient: DynamoDBClient;
  let now = Date.parse('2026-12-05T12:00:00.000Z');
  beforeAll(async () => {
    dynamo = await startDynamo();
    client = DynamoDBDocumentClient.from(new DynamoDBClient(localAwsClientConfig(dynamo.endpoint, 1)));
    claimClient = new DynamoDBClient({ ...localAwsClientConfig(dynamo.endpoint, 1), cacheMiddleware: true });
    await createIdempotencyTable(client as unknown as DynamoDBClient, 'idem');
  });
  afterAll(async () => {
    client.destroy();
    claimClient.destroy();
    await dynamo.stop();
  });
  const item = async (id: string) => (await client.send(new GetCommand({ TableName: 'idem', Key: { id }, ConsistentRead: true }))).Item;

  it('each claim writes its own key and lease, and reads back its own previous record', async () => {
    const store = new DynamoIdempotencyStore({ client, claimClient, tableName: 'idem', now: () => now });
    expect(await store.claim('b#one', 60_000)).toEqual({ outcome: 'claimed', previous: undefined });
    now += 1_000;
    expect(await store.claim('b#two', 30_000)).toEqual({ outcome: 'claimed', previous: undefined });
    expect(await item('b#one')).toMatchObject({ id: 'b#one', status: 'in-progress', leaseUntil: Date.parse('2026-12-05T12:01:00.000Z') });
    expect(await item('b#two')).toMatchObject({ id: 'b#two', status: 'in-progress', leaseUntil: Date.parse('2026-12-05T12:00:31.000Z') });

    // A key held by a live claim is busy; once settled delivered, a duplicate; a pending one is claimed again with its record.
    expect(await store.claim('b#one', 60_000)).toEqual({ outcome: 'busy' });
    await store.settle('b#one', { status: 'delivered', delivered: ['a@example.net'], failed: [] });
    expect(await store.claim('b#one', 60_000)).toMatchObject({ outcome: 'duplicate', previous: { status: 'delivered', delivered: ['a@example.net'] } });
    const failure = { reason: 'smtp-transient', detail: '451 later', responseCode: 451 };
    await store.settle('b#two', { status: 'pending', delivered: ['a@example.net'], failed: ['c@example.net'], failure });
    expect(await store.claim('b#two', 60_000)).toEqual({
      outcome: 'claimed',
      previous: { status: 'pending', delivered: ['a@example.net'], failed: ['c@example.net'], failure },
    });
    // A redrive may claim a dead-lettered key; a plain claim may not.
    await store.settle('b#two', { status: 'dead-lettered', delivered: [], failed: ['c@example.net'], failure });
    expect((await store.claim('b#two', 60_000)).outcome).toBe('duplicate');
    expect(await store.claim('b#two', 60_000, { redrive: true })).toMatchObject({ outcome: 'claimed', previous: { status: 'dead-lettered' } });
  });

  it.each(['settle', 'settleMany'] as const)('a dead-lettered key is taken back once per DLQ entry (settled with %s)', async (how) => {
    const store = new DynamoIdempotencyStore({ client, claimClient, tableName: 'idem', now: () => now });
    const key = `b#redrive-${how}`;
    const settle = (record: Parameters<DynamoIdempotencyStore['settle']>[1]) => (how === 'settle' ? store.settle(key, record) : store.settleMany([{ key, record }]));
    expect((await store.claim(key, 60_000)).outcome).toBe('claimed');
    await settle({ status: 'dead-lettered', delivered: ['a@example.net'], failed: ['c@example.net'] });
    // The redrive of entry m-1 claims the key and records where it came from.
    expect(await store.claim(key, 60_000, { redrive: true, redriveOf: 'm-1' })).toMatchObject({ outcome: 'claimed', previous: { status: 'dead-lettered', redrivenFrom: undefined } });
    expect(await item(key)).toMatchObject({ status: 'in-progress', redrivenFrom: 'm-1' });
    // It fails again: dead-lettered again (a new DLQ entry, m-2), the source kept as the worker passes it on.
    await settle({ status: 'dead-lettered', delivered: ['a@example.net'], failed: ['c@example.net'], redrivenFrom: 'm-1' });
    expect(await item(key)).toMatchObject({ status: 'dead-lettered', redrivenFrom: 'm-1' });
    // Another copy of the redrive of m-1 (SQS delivered it twice, or the entry was duplicated) is a duplicate...
    expect(await store.claim(key, 60_000, { redrive: true, redriveOf: 'm-1' })).toMatchObject({ outcome: 'duplicate', previous: { status: 'dead-lettered', redrivenFrom: 'm-1' } });
    // ...the redrive of the new entry m-2 is not, and neither is a redrive that names no entry.
    expect(await store.claim(key, 60_000, { redrive: true, redriveOf: 'm-2' })).toMatchObject({ outcome: 'claimed', previous: { redrivenFrom: 'm-1' } });
    await settle({ status: 'dead-lettered', delivered: [], failed: ['c@example.net'], redrivenFrom: 'm-2' });
    expect(await store.claim(key, 60_000, { redrive: true })).toMatchObject({ outcome: 'claimed', previous: { redrivenFrom: 'm-2' } });
    // A plain claim never takes a dead-lettered key back.
    await settle({ status: 'dead-lettered', delivered: [], failed: ['c@example.net'], redrivenFrom: 'm-2' });
    expect((await store.claim(key, 60_000, { redriveOf: 'm-3' })).outcome).toBe('duplicate');
  });
});
