/**
 * DynamoIdempotencyStore.claim through a low-level client built with `cacheMiddleware: true` (as
 * createWorker builds it): the SDK resolves the claim's middleware stack once, and every claim
 * must still send its own key and values. On dynalite.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoIdempotencyStore } from '../../../lambda/adapters/dynamoIdempotencyStore.js';
import { localAwsClientConfig } from '../../../local/awsClientConfig.js';
import { idempotencyTable } from '../../helpers/idempotencyTable.js';

describe('claim with a cached-middleware client', () => {
  const table = idempotencyTable();
  const item = table.item;
  let client: DynamoDBDocumentClient;
  let claimClient: DynamoDBClient;
  let now = Date.parse('2026-12-05T12:00:00.000Z');
  beforeAll(() => {
    client = table.client();
    claimClient = new DynamoDBClient({ ...localAwsClientConfig(table.endpoint(), 1), cacheMiddleware: true });
  });
  afterAll(() => claimClient.destroy());

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

  it.each(['settle', 'settleMany'] as const)('a dead-lettered key is not taken back by a redrive of a DLQ entry redriven before (settled with %s)', async (how) => {
    const store = new DynamoIdempotencyStore({ client, claimClient, tableName: 'idem', now: () => now });
    const key = `b#redrive-${how}`;
    const settle = (record: Parameters<DynamoIdempotencyStore['settle']>[1]) => (how === 'settle' ? store.settle(key, record) : store.settleMany([{ key, record }]));
    expect((await store.claim(key, 60_000)).outcome).toBe('claimed');
    await settle({ status: 'dead-lettered', delivered: ['a@example.net'], failed: ['c@example.net'] });
    // The redrive of entry e-1 claims the key and records the entry, in the same write.
    expect(await store.claim(key, 60_000, { redrive: true, redriveOf: 'e-1' })).toMatchObject({ outcome: 'claimed', previous: { status: 'dead-lettered', redrivenEntries: undefined } });
    expect(await item(key)).toMatchObject({ status: 'in-progress', redrivenEntries: new Set(['e-1']) });
    // It fails again (a new entry, e-2); the worker carries the entries in the settled record.
    await settle({ status: 'dead-lettered', delivered: ['a@example.net'], failed: ['c@example.net'], redrivenEntries: ['e-1'] });
    expect(await item(key)).toMatchObject({ status: 'dead-lettered', redrivenEntries: new Set(['e-1']) });
    // Another redrive of e-1 is a duplicate; e-2's is not, and both are on the record after it.
    expect(await store.claim(key, 60_000, { redrive: true, redriveOf: 'e-1' })).toMatchObject({ outcome: 'duplicate', previous: { status: 'dead-lettered', redrivenEntries: ['e-1'] } });
    expect((await store.claim(key, 60_000, { redrive: true, redriveOf: 'e-2' })).outcome).toBe('claimed');
    expect(await item(key)).toMatchObject({ redrivenEntries: new Set(['e-1', 'e-2']) });
    await settle({ status: 'dead-lettered', delivered: [], failed: ['c@example.net'], redrivenEntries: ['e-1', 'e-2'] });
    expect((await store.claim(key, 60_000, { redrive: true, redriveOf: 'e-2' })).outcome).toBe('duplicate');
    // A redrive that names no entry takes a dead-lettered key back, as before entries had ids.
    expect((await store.claim(key, 60_000, { redrive: true })).outcome).toBe('claimed');
    // A key that is pending (a redrive deferred) is claimed by any copy, named or not.
    await settle({ status: 'pending', delivered: [], failed: [], redrivenEntries: ['e-1', 'e-2'] });
    expect((await store.claim(key, 60_000, { redrive: true, redriveOf: 'e-2' })).outcome).toBe('claimed');
    // A plain claim never takes a dead-lettered key back, whatever it names.
    await settle({ status: 'dead-lettered', delivered: [], failed: ['c@example.net'], redrivenEntries: ['e-1', 'e-2'] });
    expect((await store.claim(key, 60_000, { redriveOf: 'e-3' })).outcome).toBe('duplicate');
  });
});
