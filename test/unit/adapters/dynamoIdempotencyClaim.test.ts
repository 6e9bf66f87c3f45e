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

  it.each(['settle', 'settleMany'] as const)('a dead-lettered key is taken back only by a redrive of the DLQ entry that holds it (settled with %s)', async (how) => {
    const store = new DynamoIdempotencyStore({ client, claimClient, tableName: 'idem', now: () => now });
    const key = `b#redrive-${how}`;
    const settle = (record: Parameters<DynamoIdempotencyStore['settle']>[1]) => (how === 'settle' ? store.settle(key, record) : store.settleMany([{ key, record }]));
    expect((await store.claim(key, 60_000)).outcome).toBe('claimed');
    await settle({ status: 'dead-lettered', delivered: ['a@example.net'], failed: ['c@example.net'], deadLetterId: 'e-1' });
    expect(await item(key)).toMatchObject({ status: 'dead-lettered', deadLetterId: 'e-1' });
    // A redrive of another entry of the key (an older one, a copy) is a duplicate; one of e-1 claims it.
    expect(await store.claim(key, 60_000, { redrive: true, redriveOf: 'e-0' })).toMatchObject({ outcome: 'duplicate', previous: { status: 'dead-lettered', deadLetterId: 'e-1' } });
    expect(await store.claim(key, 60_000, { redrive: true, redriveOf: 'e-1' })).toMatchObject({ outcome: 'claimed', previous: { status: 'dead-lettered', deadLetterId: 'e-1' } });
    // It fails again: a new entry, e-2. Another copy of the e-1 redrive is now a duplicate; e-2's redrive is not.
    await settle({ status: 'dead-lettered', delivered: ['a@example.net'], failed: ['c@example.net'], deadLetterId: 'e-2' });
    expect((await store.claim(key, 60_000, { redrive: true, redriveOf: 'e-1' })).outcome).toBe('duplicate');
    expect((await store.claim(key, 60_000, { redrive: true, redriveOf: 'e-2' })).outcome).toBe('claimed');
    // Settled pending, the entry is gone from the record; a record that names no entry (written
    // before entries had ids) is taken back by any redrive, and so is a redrive that names none.
    await settle({ status: 'pending', delivered: ['a@example.net'], failed: [] });
    expect((await item(key))?.['deadLetterId']).toBeUndefined();
    await settle({ status: 'dead-lettered', delivered: [], failed: ['c@example.net'] });
    expect((await store.claim(key, 60_000, { redrive: true, redriveOf: 'e-9' })).outcome).toBe('claimed');
    await settle({ status: 'dead-lettered', delivered: [], failed: ['c@example.net'], deadLetterId: 'e-3' });
    expect((await store.claim(key, 60_000, { redrive: true })).outcome).toBe('claimed');
    // A plain claim never takes a dead-lettered key back, whatever it names.
    await settle({ status: 'dead-lettered', delivered: [], failed: ['c@example.net'], deadLetterId: 'e-4' });
    expect((await store.claim(key, 60_000, { redriveOf: 'e-4' })).outcome).toBe('duplicate');
  });
});
