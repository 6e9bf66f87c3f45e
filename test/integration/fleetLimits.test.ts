/**
 * Fleet-wide limits (docs/design.md §2 `limits`) with two sandboxes: two createWorker instances,
 * each with its own pool, caches and limiter, sharing one dynalite relay-state table, one queue
 * (fauxqs) and one smtp-server relay with STARTTLS + AUTH PLAIN. The relay must never see more
 * concurrent sessions than `maxConnections`, nor more messages than `messagesPerSecond` (plus one
 * second's burst) over any window; a storm of 421s lowers the allowance and it recovers; every
 * message is relayed exactly once and none reaches the DLQ.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { ChangeMessageVisibilityCommand, GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollOnce } from '../../lambda/adapters/sqsPoller.js';
import { createWorker, type Worker } from '../../lambda/handlers/createWorker.js';
import { currentLevel } from '../../lambda/core/relayLimiter.js';
import { processBatch } from '../../lambda/worker/processBatch.js';
import { readSettings } from '../../lambda/worker/settings.js';
import { startSmtpRelay, type ReceivedMessage, type SmtpRelay } from '../../local/smtpRelay.js';
import { startLocalWorld, type LocalWorld } from '../helpers/localWorld.js';

const PASSWORD = 'Fleet-Pw-5d2a9c';
const SECRET = 'mailrelay/fleet';
const RECOVERY_S = 6;
let world: LocalWorld;
const relays: SmtpRelay[] = [];
const sandboxes: Worker[] = [];
const logs: { sandbox: string; message: string; [key: string]: unknown }[] = [];
const metrics = new Map<string, number>();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  world = await startLocalWorld({
    secrets: { [SECRET]: JSON.stringify({ username: 'billing@acme.example', password: PASSWORD }) },
    // What the stack derives from the age: limit waits must never reach it.
    maxReceiveCount: 100,
    env: { LIMIT_WAIT_SECONDS: '1', CONNECTION_LEASE_SECONDS: '5', THROTTLE_RECOVERY_SECONDS: String(RECOVERY_S), SESSION_IDLE_SECONDS: '0.5', ROUTE_SUSPENSION_SECONDS: '0.3', ROUTE_SUSPENSION_MAX_SECONDS: '1' },
  });
  for (const name of ['A', 'B']) sandboxes.push(sandbox(name));
});

afterAll(async () => {
  for (const s of sandboxes) s.pool.closeIdle();
  for (const relay of relays) await relay.stop();
  await world?.stop();
});

function sandbox(name: string): Worker {
  const log = (level: string) => (message: string, ...extra: Record<string, unknown>[]) => logs.push({ sandbox: name, level, message, ...Object.assign({}, ...extra) });
  return createWorker({
    settings: readSettings(process.env),
    logger: { debug: () => undefined, info: log('INFO'), warn: log('WARN'), error: log('ERROR') },
    metrics: { addMetric: (metric, _unit, value) => metrics.set(metric, (metrics.get(metric) ?? 0) + value) },
  });
}

/**
 * One invocation of a sandbox: a batch from the queue, processed as Lambda would. The test plays
 * the event source mapping and fast-forwards the delay the worker set on deferred records, so a
 * retry does not wait for the backoff (the limits still hold: a record back early waits again).
 */
async function invoke(worker: Worker): Promise<void> {
  let failed: { receiptHandle: string }[] = [];
  await pollOnce(
    async (event) => {
      const result = await processBatch(event.Records, { ...worker, claimLeaseMs: 60_000, mayStartDelivery: () => true }, { remainingTimeMs: () => 60_000, minRemainingMs: 0 });
      failed = event.Records.filter((r) => result.batchItemFailures.some((f) => f.itemIdentifier === r.messageId));
      return result;
    },
    { client: world.sqs, queueUrl: world.queues.queueUrl, queueArn: world.queues.queueArn, waitTimeSeconds: 0 },
  );
  for (const r of failed) await world.sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: world.queues.queueUrl, ReceiptHandle: r.receiptHandle, VisibilityTimeout: 0 }));
}

async function queueEmpty(): Promise<boolean> {
  const { Attributes } = await world.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: world.queues.queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
  );
  return Number(Attributes?.ApproximateNumberOfMessages ?? 0) + Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0) === 0;
}

/** Both sandboxes poll side by side until the queue is empty (deferred messages come back after the delay the worker set). */
async function drain(maxRounds = 200): Promise<void> {
  for (let round = 0; round < maxRounds; round++) {
    await Promise.all(sandboxes.map((s) => invoke(s)));
    if (await queueEmpty()) return;
    await sleep(100);
  }
  throw new Error('the queue did not drain');
}

async function route(binding: string, port: number, limits: Record<string, unknown>): Promise<void> {
  await world.putConfig({
    scope: `binding#${binding}`,
    relay: { host: '127.0.0.1', port, tls: 'starttls', timeoutSeconds: 10 },
    auth: { type: 'PLAIN', pass: { secret: SECRET } },
    limits,
  });
}

const mail = (key: string, i: number, binding: string) =>
  JSON.stringify({ idempotencyKey: key, from: `billing@sender${i}.example`, to: [`rcpt${i}@example.net`], subject: `m${i}`, text: 'hi', binding });

/** The most messages the relay accepted within any window of `windowMs` (each window starts at a message). */
function peakInWindow(messages: readonly ReceivedMessage[], windowMs: number): number {
  const times = messages.map((m) => m.receivedAt.getTime()).sort((a, b) => a - b);
  let peak = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while (j < times.length && times[j]! < times[i]! + windowMs) j++;
    peak = Math.max(peak, j - i);
  }
  return peak;
}

function expectEachOnce(relay: SmtpRelay, count: number): void {
  const recipients = relay.messages.flatMap((m) => m.rcptTo).sort();
  expect(recipients).toEqual(Array.from({ length: count }, (_, i) => `rcpt${i}@example.net`).sort());
}

describe('fleet-wide relay limits, two sandboxes', () => {
  it('messages from many sender domains: never more than maxConnections sessions, never above messagesPerSecond + one second of burst; each relayed once', async () => {
    const relay = await startSmtpRelay({ users: { 'billing@acme.example': PASSWORD } });
    relays.push(relay);
    // Well below what two sessions deliver unlimited (about 7 a second here), so the rate binds.
    const rate = 3;
    await route('fleet-limits', relay.port, { maxConnections: 2, messagesPerSecond: rate });
    await world.enqueue(Array.from({ length: 24 }, (_, i) => mail(`fleet-${i}`, i, 'fleet-limits')));

    await drain();

    expectEachOnce(relay, 24);
    expect(await world.drainDlq()).toEqual([]);
    expect(relay.peakSessions).toBeLessThanOrEqual(2);
    // Any window of W seconds holds at most rate × W + one second's burst (+1: the relay stamps a
    // message when DATA ends, a few ms after the token was taken).
    for (const seconds of [1, 2, 4]) expect(peakInWindow(relay.messages, seconds * 1000)).toBeLessThanOrEqual(rate * seconds + rate + 1);
    // Both sandboxes delivered, and waiting for a limit was a deferral, never a failure.
    expect(new Set(logs.filter((l) => l.message === 'relayed').map((l) => l.sandbox))).toEqual(new Set(['A', 'B']));
    expect(logs.filter((l) => l.message === 'deferred' && l['reason'] !== 'connection-limit' && l['reason'] !== 'rate-limit')).toEqual([]);
  });

  it('a storm of 421 4.7.0 "too many connections" lowers the allowance for the fleet, and it recovers step by step; nothing lost or duplicated', async () => {
    let storm = true;
    const relay = await startSmtpRelay({
      users: { 'billing@acme.example': PASSWORD },
      onConnect: () => (storm ? { code: 421, message: '4.7.0 Too many connections, try again later' } : undefined),
    });
    relays.push(relay);
    const rate = 20;
    await route('fleet-storm', relay.port, { maxConnections: 3, messagesPerSecond: rate });
    const key = `127.0.0.1:${relay.port}`;
    await world.enqueue(Array.from({ length: 40 }, (_, i) => mail(`storm-${i}`, i, 'fleet-storm')));

    // Act 1: the storm. Every connection is refused; both sandboxes defer.
    for (let i = 0; i < 3; i++) {
      await Promise.all(sandboxes.map((s) => invoke(s)));
      await sleep(300);
    }
    expect(relay.messages).toHaveLength(0);
    const item = await world.documents.send(new GetCommand({ TableName: 'mailrelay-relay-state', Key: { pk: `rate#${key}` } }));
    expect(item.Item?.['throttleLevel']).toBeGreaterThanOrEqual(1);
    expect(metrics.get('RelayThrottled') ?? 0).toBeGreaterThanOrEqual(1);
    const level = Number(item.Item?.['throttleLevel']);
    // The last step was taken here: the first step comes back one recovery period later.
    const lastStep = Number(item.Item?.['throttledAt']);

    // Act 2: the storm ends; delivery resumes at the lowered allowance. The relay's open
    // connections are sampled meanwhile.
    storm = false;
    const open: { at: number; count: number }[] = [];
    const sampler = setInterval(() => open.push({ at: Date.now(), count: relay.openSessions }), 10);
    await drain().finally(() => clearInterval(sampler));

    // Assess: each message once, no DLQ; while lowered, the rate was at most halved (plus its burst).
    expectEachOnce(relay, 40);
    expect(await world.drainDlq()).toEqual([]);
    expect(relay.peakSessions).toBeLessThanOrEqual(3);
    const lowered = relay.messages.filter((m) => m.receivedAt.getTime() < lastStep + RECOVERY_S * 1000);
    expect(lowered.length).toBeGreaterThan(0);
    const halved = rate / 2 ** level;
    expect(peakInWindow(lowered, 1000)).toBeLessThanOrEqual(2 * halved + 1);
    // ...and the fleet held one connection fewer per step.
    const openWhileLowered = open.filter((s) => s.at < lastStep + RECOVERY_S * 1000).map((s) => s.count);
    expect(openWhileLowered.length).toBeGreaterThan(0);
    expect(Math.max(...openWhileLowered)).toBeLessThanOrEqual(Math.max(1, 3 - level));
    // It recovers: after the quiet steps, the stored state and both sandboxes are back at the full allowance.
    await sleep(Math.max(0, lastStep + RECOVERY_S * 1000 * level + 100 - Date.now()));
    const after = await world.documents.send(new GetCommand({ TableName: 'mailrelay-relay-state', Key: { pk: `rate#${key}` } }));
    expect(currentLevel({ level: Number(after.Item?.['throttleLevel']), since: Number(after.Item?.['throttledAt']) }, { recoveryStepMs: RECOVERY_S * 1000 }, Date.now())).toBe(0);
    expect(Number(after.Item?.['throttleLevel'])).toBe(level);
    for (const s of sandboxes) expect(s.pool.limits.limiter.throttleLevel(key)).toBe(0);
  });
});

