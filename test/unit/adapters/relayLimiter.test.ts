/**
 * Fleet-wide relay limits: the GCRA and throttle rules, and the same behaviour from two sandboxes
 * (two DynamoRelayLimiter instances on one dynalite table, one clock) and from the in-memory
 * limiter: never more leases than maxConnections, never more messages than the rate plus one
 * second's burst, a lapsed lease comes back, a throttle halves the rate and recovers step by step.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DynamoRelayLimiter } from '../../../lambda/adapters/dynamoRelayLimiter.js';
import { allowance, currentLevel, gcra, limitKey, MemoryRelayLimiter, throttleAfter, type LimiterPolicy, type RelayLimiter } from '../../../lambda/core/relayLimiter.js';
import { LimitDeferral, RelayLimits } from '../../../lambda/core/relayLimits.js';
import { localAwsClientConfig } from '../../../local/awsClientConfig.js';
import { createRelayStateTable, startDynamo, type LocalEmulator } from '../../../local/emulators.js';

const policy: LimiterPolicy = { leaseTtlMs: 30_000, recoveryStepMs: 10_000, holdMs: 2_000, maxLevel: 4 };
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
beforeEach(() => {
  now = 1_000_000;
});

async function dynamoFleet(): Promise<[RelayLimiter, RelayLimiter, string]> {
  const tableName = `relay-limits-${++table}`;
  await createRelayStateTable(client as unknown as DynamoDBClient, tableName);
  const sandbox = () => new DynamoRelayLimiter({ client, tableName, policy, now: clock });
  return [sandbox(), sandbox(), tableName];
}

describe('GCRA', () => {
  it('allows one second of burst, then one message per interval', () => {
    // 5 msg/s: interval 200 ms, a burst of 5.
    const first = gcra(undefined, now, 5, 10);
    expect(first).toMatchObject({ granted: 5, tat: now + 1000 });
    const blocked = gcra(first.tat, now, 5, 1);
    expect(blocked.granted).toBe(0);
    expect(blocked.retryAfterMs).toBe(200);
    expect(gcra(first.tat, now + 200, 5, 3).granted).toBe(1);
    // After a quiet spell the burst is back, never more.
    expect(gcra(first.tat, now + 60_000, 5, 100).granted).toBe(5);
  });

  it('a rate under one per second has no burst: one message, then the interval', () => {
    const first = gcra(undefined, now, 0.5, 3);
    expect(first.granted).toBe(1);
    expect(gcra(first.tat, now + 1999, 0.5, 1).granted).toBe(0);
    expect(gcra(first.tat, now + 2000, 0.5, 1).granted).toBe(1);
  });
});

describe('throttle steps', () => {
  it('each throttle halves the rate and drops a connection; one step comes back per quiet recoveryStepMs', () => {
    const one = throttleAfter(undefined, policy, now)!;
    expect(one.level).toBe(1);
    // Within the hold time a storm of 421s is one step.
    expect(throttleAfter(one, policy, now + 500)).toBeUndefined();
    const two = throttleAfter(one, policy, now + 2_000)!;
    expect(two.level).toBe(2);
    expect(allowance({ maxConnections: 4, messagesPerSecond: 8 }, two.level)).toEqual({ maxConnections: 2, messagesPerSecond: 2 });
    expect(allowance({ maxConnections: 1, messagesPerSecond: undefined }, 3)).toEqual({ maxConnections: 1, messagesPerSecond: undefined });
    expect(currentLevel(two, policy, two.since + 9_999)).toBe(2);
    expect(currentLevel(two, policy, two.since + 10_000)).toBe(1);
    expect(currentLevel(two, policy, two.since + 20_000)).toBe(0);
  });

  it('limit keys are the relay, or the relay and the user with perUser', () => {
    const relay = { host: 'SMTP.Office365.com', port: 587 };
    expect(limitKey(relay, { type: 'LOGIN', user: 'Bob@x.example' }, { perUser: false })).toBe('smtp.office365.com:587');
    expect(limitKey(relay, { type: 'LOGIN', user: 'Bob@x.example' }, { perUser: true })).toBe('smtp.office365.com:587#bob@x.example');
    expect(limitKey(relay, { type: 'NONE', user: undefined }, { perUser: true })).toBe('smtp.office365.com:587');
  });
});

describe.each([
  ['DynamoRelayLimiter on dynalite (two sandboxes)', dynamoFleet],
  ['MemoryRelayLimiter', async (): Promise<[RelayLimiter, RelayLimiter, string]> => {
    const one = new MemoryRelayLimiter(policy, clock);
    return [one, one, ''];
  }],
])('%s', (_name, makeFleet) => {
  it('never grants more leases than maxConnections; a released or lapsed lease comes back', async () => {
    const [a, b] = await makeFleet();
    const first = await a.acquireLease('r:587', 2);
    const second = await b.acquireLease('r:587', 2);
    const third = await a.acquireLease('r:587', 2);
    expect(first.granted && second.granted).toBe(true);
    expect(third.granted).toBe(false);
    if (!first.granted || !second.granted) return;
    expect(first.lease.slot).not.toBe(second.lease.slot);

    await a.releaseLease(first.lease);
    const again = await b.acquireLease('r:587', 2);
    expect(again.granted).toBe(true);

    // A sandbox that froze: its lease lapses, another takes the slot, and its renewal then fails.
    const solo = await a.acquireLease('r:1', 1);
    if (!solo.granted) throw new Error('no lease');
    now += policy.leaseTtlMs + 1;
    expect((await b.acquireLease('r:1', 1)).granted).toBe(true);
    expect(await a.renewLease(solo.lease)).toBe(false);
  });

  it('a throttle takes a connection away: slots held above the lowered allowance still count', async () => {
    const [a, b] = await makeFleet();
    const leases = [await a.acquireLease('r:1587', 3), await a.acquireLease('r:1587', 3), await a.acquireLease('r:1587', 3)];
    await a.throttled('r:1587');
    const first = leases.find((l) => l.granted && l.lease.slot === 0);
    if (!first?.granted) throw new Error('no lease of slot 0');
    await a.releaseLease(first.lease);
    // Two sessions are still open and the allowance is now two: no third.
    expect((await b.acquireLease('r:1587', 3)).granted).toBe(false);
  });

  it('a sandbox whose view of the throttle is old takes leases by the fleet’s level, not its own', async () => {
    const [a, b] = await makeFleet();
    await a.throttled('r:4587');
    await b.throttled('r:4587');
    now += 5_000;
    // A second step, seen only by A; B's view (one step, taken 12 s ago) has worn off by then.
    expect((await a.throttled('r:4587')).level).toBe(2);
    now += 7_000;
    expect((await a.acquireLease('r:4587', 3)).granted).toBe(true);
    // The fleet's allowance is 3 − 2 = 1, held by A.
    expect((await b.acquireLease('r:4587', 3)).granted).toBe(false);
  });

  it('a renewed lease is not taken by anyone else', async () => {
    const [a, b] = await makeFleet();
    const held = await a.acquireLease('r:25', 1);
    if (!held.granted) throw new Error('no lease');
    now += policy.leaseTtlMs - 1;
    expect(await a.renewLease(held.lease)).toBe(true);
    now += policy.leaseTtlMs - 1;
    expect((await b.acquireLease('r:25', 1)).granted).toBe(false);
  });

  it('two sandboxes taking turns never get more than the rate plus one second of burst', async () => {
    const [a, b] = await makeFleet();
    const granted: number[] = [];
    // 4 msg/s for 5 simulated seconds, both sandboxes asking for 3 every 50 ms.
    for (let step = 0; step < 100; step++) {
      for (const sandbox of [a, b]) {
        const grant = await sandbox.takeTokens('r:587', 4, 3);
        for (let i = 0; i < grant.granted; i++) granted.push(now);
        if (grant.granted === 0) expect(grant.retryAfterMs).toBeGreaterThan(0);
      }
      now += 50;
    }
    // 5 s at 4 msg/s, plus a burst of 4.
    expect(granted.length).toBeLessThanOrEqual(4 * 5 + 4);
    expect(granted.length).toBeGreaterThanOrEqual(4 * 5);
    for (const start of granted) {
      const inWindow = granted.filter((t) => t >= start && t < start + 1000).length;
      expect(inWindow).toBeLessThanOrEqual(4 + 4);
    }
  });

  it('a sandbox that never met the throttle takes tokens at the fleet’s lowered rate', async () => {
    const [a, b] = await makeFleet();
    // B has seen the relay unthrottled; then A meets a 421 (rate 10 → 5 msg/s).
    expect((await b.takeTokens('r:465', 10, 1)).granted).toBe(1);
    await a.throttled('r:465');
    now += 5_000;
    // An idle relay gives one second's burst: five at the lowered rate, not ten.
    expect((await b.takeTokens('r:465', 10, 10)).granted).toBe(5);
    expect(b.throttleLevel('r:465')).toBe(1);
  });

  it('a throttle is one step for the fleet, and both sandboxes read it', async () => {
    const [a, b] = await makeFleet();
    expect((await a.throttled('r:587')).level).toBe(1);
    expect((await b.throttled('r:587')).level).toBe(1);
    // B learnt of A's step; a rate update keeps it fresh for A too.
    expect(b.throttleLevel('r:587')).toBe(1);
    await a.takeTokens('r:587', 10, 1);
    expect(a.throttleLevel('r:587')).toBe(1);
    now += policy.recoveryStepMs;
    expect(a.throttleLevel('r:587')).toBe(0);
  });
});

describe('DynamoRelayLimiter items', () => {
  it('sandboxes taking tokens at the same moment do not spoil each other’s updates', async () => {
    const [a, b] = await dynamoFleet();
    const calls = () => a.calls + b.calls;
    await a.takeTokens('r:2525', 100, 1);
    await b.takeTokens('r:2525', 100, 1);
    const before = calls();
    // Both views are out of date after each other's update; a range condition still fits both.
    for (let i = 0; i < 10; i++) {
      now += 5;
      expect((await a.takeTokens('r:2525', 100, 2)).granted).toBe(2);
      expect((await b.takeTokens('r:2525', 100, 2)).granted).toBe(2);
    }
    expect(calls() - before).toBe(20);
  });

  it('an out-of-date view never lets a sandbox run ahead of the fleet', async () => {
    const [a, b] = await dynamoFleet();
    // 4 msg/s: a burst of four. A takes one and remembers that; B then takes the other three.
    expect((await a.takeTokens('r:26', 4, 1)).granted).toBe(1);
    expect((await b.takeTokens('r:26', 4, 10)).granted).toBe(3);
    // A's view says three more fit; the stored arrival time says none: the update fails, A learns, nothing granted.
    const late = await a.takeTokens('r:26', 4, 4);
    expect(late.granted).toBe(0);
    expect(late.retryAfterMs).toBeGreaterThan(0);
  });

  it('a sandbox that never takes tokens learns the throttle level from its look at the slots and from its renewals', async () => {
    const [a, b, tableName] = await dynamoFleet();
    const held = await b.acquireLease('r:3587', 3);
    if (!held.granted) throw new Error('no lease');
    await a.throttled('r:3587');
    // B renews its lease: it now knows the relay has one connection fewer.
    expect(await b.renewLease(held.lease)).toBe(true);
    expect(b.throttleLevel('r:3587')).toBe(1);
    // A third sandbox, before any token: its first look carries the level.
    const fresh = new DynamoRelayLimiter({ client, tableName, policy, now: clock });
    expect((await fresh.acquireLease('r:3587', 3)).granted).toBe(true);
    expect(fresh.throttleLevel('r:3587')).toBe(1);
  });

  it('a full relay costs one read per look, not a write per slot', async () => {
    const [a, b] = await dynamoFleet();
    for (let i = 0; i < 3; i++) expect((await a.acquireLease('r:2587', 3)).granted).toBe(true);
    const before = b.calls;
    expect((await b.acquireLease('r:2587', 3)).granted).toBe(false);
    expect(b.calls - before).toBe(1);
    // B learnt the slots are held: until one may lapse, it reads again (one call), never writes.
    expect((await b.acquireLease('r:2587', 3)).granted).toBe(false);
    expect(b.calls - before).toBe(2);
  });

  it('keeps leases as lease#<relay>#<slot> and the rate as rate#<relay>, each with the TTL attribute', async () => {
    const [a, , tableName] = await dynamoFleet();
    const lease = await a.acquireLease('smtp.example:587#bob@x.example', 1);
    await a.takeTokens('smtp.example:587#bob@x.example', 2, 1);
    expect(lease.granted).toBe(true);
    const leaseItem = await client.send(new GetCommand({ TableName: tableName, Key: { pk: 'lease#smtp.example:587#bob@x.example#0' } }));
    expect(leaseItem.Item).toMatchObject({ leaseExpiresAt: now + policy.leaseTtlMs, expiresAt: expect.any(Number) });
    const rateItem = await client.send(new GetCommand({ TableName: tableName, Key: { pk: 'rate#smtp.example:587#bob@x.example' } }));
    expect(rateItem.Item).toMatchObject({ tat: now + 500, expiresAt: expect.any(Number) });
  });
});

describe('RelayLimits', () => {
  const route = (messagesPerSecond?: number) => ({
    relay: { host: 'r', port: 587 },
    auth: { type: 'NONE' as const, user: undefined },
    limits: { maxConnections: 1, maxMessagesPerConnection: 100, messagesPerSecond, maxConnectionAgeSeconds: 300, perUser: false },
  });

  it('batches waiting messages into one rate update and defers those that would wait too long', async () => {
    const limiter = new MemoryRelayLimiter(policy);
    let calls = 0;
    const counting: RelayLimiter = Object.assign(Object.create(limiter) as RelayLimiter, {
      takeTokens: (key: string, rate: number, count: number) => {
        calls += 1;
        return limiter.takeTokens(key, rate, count);
      },
    });
    const limits = new RelayLimits(counting, { maxWaitMs: 0 });
    // 3 msg/s: a burst of three; the other five cannot wait at all (maxWaitMs 0).
    const outcomes = await Promise.allSettled(Array.from({ length: 8 }, () => limits.admit(route(3))));
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(3);
    const deferred = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected').map((o) => o.reason as LimitDeferral);
    expect(deferred).toHaveLength(5);
    expect(deferred.every((d) => d instanceof LimitDeferral && d.reason === 'rate-limit' && d.retryAfterSeconds >= 1)).toBe(true);
    expect(calls).toBe(1);
  });

  it('a route without messagesPerSecond is never asked about', async () => {
    const limits = new RelayLimits(new MemoryRelayLimiter(policy), { maxWaitMs: 0 });
    await Promise.all(Array.from({ length: 50 }, () => limits.admit(route(undefined))));
    expect(limits.limiter.calls).toBe(0);
  });

  it('over maxConnections after the wait: a connection-limit deferral with the limiter’s delay', async () => {
    const limiter = new MemoryRelayLimiter(policy);
    const limits = new RelayLimits(limiter, { maxWaitMs: 0 });
    const first = await limits.lease(route(), () => Promise.resolve('timeout'));
    expect(first).not.toBe('session-free');
    const error = await limits.lease(route(), () => Promise.resolve('timeout')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LimitDeferral);
    expect(error).toMatchObject({ reason: 'connection-limit', sessionRefused: false });
    expect((error as LimitDeferral).retryAfterSeconds).toBeGreaterThanOrEqual(1);
  });

  it('messages of one sandbox waiting for a full relay share its looks at the slots, spaced out', async () => {
    const limiter = new MemoryRelayLimiter(policy);
    let looks = 0;
    const counting: RelayLimiter = Object.assign(Object.create(limiter) as RelayLimiter, {
      acquireLease: (key: string, max: number) => {
        looks += 1;
        return limiter.acquireLease(key, max);
      },
    });
    const limits = new RelayLimits(counting, { maxWaitMs: 1_200 });
    const pause = (ms: number) => new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), ms));
    expect(await limits.lease(route(), pause)).toMatchObject({ slot: 0 });
    looks = 0;
    // Five messages wait 1.2 s for the one slot: looks at 0, ~250 and ~750 ms, shared by all five.
    const outcomes = await Promise.allSettled(Array.from({ length: 5 }, () => limits.lease(route(), pause)));
    expect(outcomes.every((o) => o.status === 'rejected' && o.reason instanceof LimitDeferral)).toBe(true);
    expect(looks).toBeGreaterThanOrEqual(2);
    expect(looks).toBeLessThanOrEqual(4);
  });

  it('a renewal that fails keeps the lease only until it lapses', async () => {
    const limiter = new MemoryRelayLimiter(policy);
    const failing: RelayLimiter = Object.assign(Object.create(limiter) as RelayLimiter, { renewLease: () => Promise.reject(new Error('throttled')) });
    const limits = new RelayLimits(failing, { onStateError: () => undefined });
    const lease = { key: 'r:587', slot: 0, holder: 'h', expiresAt: Date.now() + 60_000, ttlMs: 30_000 };
    expect(await limits.renew(lease)).toBe(true);
    expect(await limits.renew({ ...lease, expiresAt: Date.now() - 1 })).toBe(false);
  });

  it('the state table being down does not stop mail: granted, and reported', async () => {
    const broken: RelayLimiter = {
      calls: 0,
      acquireLease: () => Promise.reject(new Error('table unavailable')),
      renewLease: () => Promise.reject(new Error('table unavailable')),
      releaseLease: () => Promise.reject(new Error('table unavailable')),
      takeTokens: () => Promise.reject(new Error('table unavailable')),
      throttled: () => Promise.reject(new Error('table unavailable')),
      throttleLevel: () => 0,
      shared: true,
    };
    const errors: string[] = [];
    const limits = new RelayLimits(broken, { onStateError: (key, e) => errors.push(`${key}: ${e.message}`) });
    await limits.admit(route(1));
    const lease = await limits.lease(route(), () => Promise.resolve('timeout'));
    expect(lease).toMatchObject({ slot: -1 });
    expect(errors).toEqual(['r:587: table unavailable', 'r:587: table unavailable']);
  });
});
