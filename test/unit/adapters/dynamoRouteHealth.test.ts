/**
 * Fleet-wide suspension on DynamoDB (dynalite): two sandboxes (two DynamoRouteHealth instances,
 * each with its own cache) share one table and one clock. Exactly one starts a suspension, both
 * see it, exactly one probes when it ends, a failed probe doubles the interval, a success ends it.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DynamoRouteHealth } from '../../../lambda/adapters/dynamoRouteHealth.js';
import { MemoryRouteHealth, nextSuspensionMs, type RouteHealth } from '../../../lambda/core/routeHealth.js';
import { localAwsClientConfig } from '../../../local/awsClientConfig.js';
import { createRelayStateTable, startDynamo, type LocalEmulator } from '../../../local/emulators.js';

const policy = { baseMs: 30_000, maxMs: 240_000, probeMs: 60_000 };
let dynamo: LocalEmulator;
let client: DynamoDBDocumentClient;
let table = 0;
let now = 1_000_000;
const clock = () => now;

beforeAll(async () => {
  dynamo = await startDynamo();
  client = DynamoDBDocumentClient.from(new DynamoDBClient(localAwsClientConfig(dynamo.endpoint, 1)));
});
afterAll(async () => {
  client.destroy();
  await dynamo.stop();
});

async function fleet(): Promise<[RouteHealth, RouteHealth]> {
  const tableName = `relay-state-${++table}`;
  await createRelayStateTable(client as unknown as DynamoDBClient, tableName);
  const sandbox = () => new DynamoRouteHealth({ client, tableName, policy, cacheTtlMs: 5_000, now: clock });
  return [sandbox(), sandbox()];
}

beforeEach(() => {
  now = 1_000_000;
});

describe('nextSuspensionMs', () => {
  it('starts at the base, doubles after a failed probe, stops at the max, starts over after a long healthy spell', () => {
    expect(nextSuspensionMs(undefined, policy, now)).toBe(30_000);
    expect(nextSuspensionMs({ intervalMs: 30_000, until: now - 1 }, policy, now)).toBe(60_000);
    expect(nextSuspensionMs({ intervalMs: 240_000, until: now - 1 }, policy, now)).toBe(240_000);
    expect(nextSuspensionMs({ intervalMs: 120_000, until: now - policy.maxMs - 1 }, policy, now)).toBe(30_000);
  });
});

describe.each([
  ['DynamoRouteHealth on dynalite', fleet],
  ['MemoryRouteHealth', async (): Promise<[RouteHealth, RouteHealth]> => { const one = new MemoryRouteHealth(policy, clock); return [one, one]; }],
])('%s', (_name, makeFleet) => {
  it('one sandbox starts the suspension; the other reads it and does not restart it', async () => {
    const [a, b] = await makeFleet();
    expect(await a.check('smtp.example:587')).toEqual({ state: 'open' });
    const first = await a.refused('smtp.example:587', { reason: 'connection', detail: 'ECONNREFUSED' });
    expect(first.started).toBe(true);
    expect(first.suspension).toMatchObject({ until: now + 30_000, intervalMs: 30_000, reason: 'connection' });
    const second = await b.refused('smtp.example:587', { reason: 'timeout' });
    expect(second.started).toBe(false);
    expect(await b.check('smtp.example:587')).toMatchObject({ state: 'suspended', until: now + 30_000 });
    expect(await b.check('other.example:587')).toEqual({ state: 'open' });
  });

  it('when the suspension ends exactly one sandbox probes; a failed probe doubles it; a delivered probe ends it', async () => {
    const [a, b] = await makeFleet();
    await a.refused('r:25', { reason: 'connection' });
    now += 30_000;
    const probe = await a.check('r:25');
    expect(probe.state).toBe('probe');
    expect(await b.check('r:25')).toMatchObject({ state: 'suspended', until: now + policy.probeMs });

    const again = await a.refused('r:25', { reason: 'connection' });
    expect(again).toMatchObject({ started: true, suspension: { intervalMs: 60_000, until: now + 60_000 } });

    now += 60_000;
    expect((await b.check('r:25')).state).toBe('probe');
    await b.recovered('r:25');
    now += 1;
    expect(await a.check('r:25')).toEqual({ state: 'open' });
    // Reset: the next refusal starts at the base again.
    now += policy.maxMs + 1;
    expect((await a.refused('r:25', { reason: 'connection' })).suspension.intervalMs).toBe(30_000);
  });
});

describe('DynamoRouteHealth races', () => {
  it('a probe that succeeds after another sandbox started a newer suspension does not erase it', async () => {
    const [a, b] = await fleet();
    await a.refused('r:25', { reason: 'connection' });
    now += 30_000;
    expect((await a.check('r:25')).state).toBe('probe');
    // Meanwhile B (its probe lapsed from B's view) starts the next, doubled suspension.
    now += policy.probeMs;
    expect((await b.check('r:25')).state).toBe('probe');
    await b.refused('r:25', { reason: 'connection' });
    // A's late success must not delete B's suspension.
    await a.recovered('r:25');
    now += 5_001; // past B's read cache, within its 60 s suspension
    expect(await b.check('r:25')).toMatchObject({ state: 'suspended' });
  });
});
