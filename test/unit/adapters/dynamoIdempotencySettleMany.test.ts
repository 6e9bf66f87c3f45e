/**
 * DynamoIdempotencyStore.settleMany: a batch's settles in BatchWriteItem requests. On dynalite it
 * leaves exactly the item `settle` leaves; with the SDK mocked, throttled UnprocessedItems are
 * re-sent, and a request DynamoDB rejects as invalid is retried entry by entry.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, describe, expect, it } from 'vitest';
import { DynamoIdempotencyStore } from '../../../lambda/adapters/dynamoIdempotencyStore.js';
import { TransientDeliveryError } from '../../../lambda/core/errors.js';
import type { SettledRecord } from '../../../lambda/core/ports.js';
import { idempotencyTable } from '../../helpers/idempotencyTable.js';

const NOW = Date.parse('2026-12-04T12:00:00.000Z');
const record = (status: SettledRecord['status'], delivered: string[], failed: string[] = []): SettledRecord => ({ status, delivered, failed });

describe('settleMany on dynalite', () => {
  const table = idempotencyTable();
  const item = table.item;

  it('leaves the same item as settle (no lease, same lists, TTL and failure), 30 keys in two requests, and claims then see them', async () => {
    const store = new DynamoIdempotencyStore({ client: table.client(), tableName: 'idem', now: () => NOW });
    const keys = Array.from({ length: 30 }, (_, i) => `b#k${i}`);
    for (const key of [...keys, 'b#single']) expect((await store.claim(key, 60_000)).outcome).toBe('claimed');
    const failure = { reason: 'relay-rejected', detail: '550 no such user', responseCode: 550 };
    await store.settle('b#single', { ...record('dead-lettered', ['a@example.net'], ['c@example.net']), failure });

    const failures = await store.settleMany([
      ...keys.map((key) => ({ key, record: record('delivered', [`${key.slice(2)}@example.net`]) })),
      { key: 'b#k0', record: { ...record('dead-lettered', ['a@example.net'], ['c@example.net']), failure } },
    ]);

    expect(failures).toEqual([]);
    const { id: _single, ...settled } = (await item('b#single'))!;
    const { id: _k0, ...batched } = (await item('b#k0'))!;
    // The later entry of a key named twice is the one written.
    expect(batched).toEqual(settled);
    expect(batched).not.toHaveProperty('leaseUntil');
    expect(await item('b#k29')).toEqual({ id: 'b#k29', status: 'delivered', delivered: ['k29@example.net'], failed: [], expiresAt: Math.floor(NOW / 1000) + 30 * 24 * 3600, settledAt: '2026-12-04T12:00:00.000Z' });
    expect((await store.claim('b#k29', 60_000)).outcome).toBe('duplicate');
    expect(await store.claim('b#k0', 60_000, { redrive: true })).toMatchObject({ outcome: 'claimed', previous: { status: 'dead-lettered', delivered: ['a@example.net'] } });
  });
});

describe('settleMany failures (SDK mocked)', () => {
  const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
  const mock = mockClient(client);
  afterAll(() => mock.restore());
  const store = new DynamoIdempotencyStore({ client, tableName: 'idem', now: () => NOW, unprocessedBackoffMs: 1 });
  const entries = ['a', 'b', 'c'].map((k) => ({ key: `b#${k}`, record: record('delivered', [`${k}@example.net`]) }));
  const unprocessed = (...keys: string[]) => ({ UnprocessedItems: { idem: keys.map((id) => ({ PutRequest: { Item: { id } } })) } });

  it('re-sends UnprocessedItems until written', async () => {
    mock.reset();
    mock.on(BatchWriteCommand).resolvesOnce(unprocessed('b#b', 'b#c')).resolvesOnce(unprocessed('b#c')).resolves({});
    expect(await store.settleMany(entries)).toEqual([]);
    const sent = mock.commandCalls(BatchWriteCommand).map((c) => c.args[0].input.RequestItems!['idem']!.map((r) => r.PutRequest!.Item!['id']));
    expect(sent).toEqual([['b#a', 'b#b', 'b#c'], ['b#b', 'b#c'], ['b#c']]);
  });

  it('gives up on an entry still unprocessed after 5 requests: a throttled failure for that entry only', async () => {
    mock.reset();
    mock.on(BatchWriteCommand).resolves(unprocessed('b#b'));
    const failures = await store.settleMany(entries);
    expect(mock.commandCalls(BatchWriteCommand)).toHaveLength(5);
    expect(failures.map((f) => f.key)).toEqual(['b#b']);
    expect(failures[0]!.error).toBeInstanceOf(TransientDeliveryError);
    expect((failures[0]!.error as TransientDeliveryError).reason).toBe('aws-throttled');
  });

  it('a request rejected as invalid is retried entry by entry with UpdateItem, so only the bad entry fails', async () => {
    mock.reset();
    mock.on(BatchWriteCommand).rejects(Object.assign(new Error('Item size has exceeded the maximum allowed size'), { name: 'ValidationException' }));
    mock.on(UpdateCommand).resolves({});
    mock.on(UpdateCommand, { Key: { id: 'b#b' } }).rejects(Object.assign(new Error('Item size has exceeded the maximum allowed size'), { name: 'ValidationException' }));
    const failures = await store.settleMany(entries);
    expect(mock.commandCalls(UpdateCommand).map((c) => c.args[0].input.Key!['id'])).toEqual(['b#a', 'b#b', 'b#c']);
    expect(failures.map((f) => f.key)).toEqual(['b#b']);
  });

  it('a request that fails outright (5xx after the SDK retries) fails every entry in it, classified', async () => {
    mock.reset();
    mock.on(BatchWriteCommand).rejects(Object.assign(new Error('internal'), { name: 'InternalServerError' }));
    const failures = await store.settleMany(entries);
    expect(failures.map((f) => f.key)).toEqual(['b#a', 'b#b', 'b#c']);
    expect(String((failures[0]!.error as Error).message)).toContain('recording delivery state in idem: InternalServerError');
    expect(mock.commandCalls(UpdateCommand)).toHaveLength(0);
  });
});
