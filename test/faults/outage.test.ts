/**
 * The outage rows (docs/design.md §2 `delivery`, failover; §3 suspension, retry by age) on the real
 * handler with a compressed clock: every record looks `virtualMs` older than it is, so hours of
 * outage pass in a few rounds, and a relay's suspension lasts a second instead of 30. The rows
 * print in the same table as the fault matrix, with `lost=0`.
 */
import { ChangeMessageVisibilityCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollOnce } from '../../lambda/adapters/sqsPoller.js';
import { createWorker } from '../../lambda/handlers/createWorker.js';
import { processBatch } from '../../lambda/worker/processBatch.js';
import { readSettings } from '../../lambda/worker/settings.js';
import { attribute, expectLog, findLogs, formatSummary, mail, RELAY_SECRET, startFaultHarness, type FaultHarness, type LogLine } from './helpers/faultHarness.js';
import { createRowKit } from './helpers/rowKit.js';

const GROUP = 'outage';
const MINUTE = 60_000;
const SUSPENSION_S = 2;
let harness: FaultHarness | undefined;
let virtualMs = 0;
const kit = createRowKit(() => harness!);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  harness = await startFaultHarness({
    // What the stack derives from the age: enough receives that SQS never moves a message first.
    maxReceiveCount: 200,
    env: { ROUTE_SUSPENSION_SECONDS: String(SUSPENSION_S), ROUTE_SUSPENSION_MAX_SECONDS: String(2 * SUSPENSION_S), ROUTE_PROBE_SECONDS: '2', RELAY_STATE_CACHE_SECONDS: '0' },
    agedByMs: () => virtualMs,
  });
});
afterAll(async () => {
  await kit.stopAll();
  const summary = harness?.summary ?? [];
  await harness?.stop();
  if (summary.length > 0) process.stdout.write(formatSummary(summary));
});

/** A binding whose route is a list of relays on 127.0.0.1 (STARTTLS, AUTH PLAIN from the shared secret). */
async function routeList(binding: string, ports: readonly number[], extra: Record<string, unknown> = {}): Promise<void> {
  await kit.h.world.putConfig({
    scope: `binding#${binding}`,
    relay: ports.map((port) => ({ host: '127.0.0.1', port, tls: 'starttls', timeoutSeconds: 5 })),
    auth: { type: 'PLAIN', pass: { secret: RELAY_SECRET } },
    ...extra,
  });
}

describe('outage', () => {
  it('a relay down for three hours (the old budget was five receives, ~8 min), then back: delivered once, nothing in the DLQ', async () => {
    // Prepare: every connection gets 421 while the relay is down.
    let down = true;
    const relay = await kit.raw({ script: (phase) => (phase === 'connect' && down ? { kind: 'reply', code: 421, text: '4.3.2 Service not available', close: true } : undefined) });
    await routeList('o-long-outage', [relay.port]);
    virtualMs = 0;
    const mark = kit.h.mark();
    await kit.h.world.enqueue([mail('long-outage', { to: ['bob@example.net'], binding: 'o-long-outage' })]);

    // Act: each round is 20 virtual minutes; the relay comes back after 3 hours.
    let connectionsWhileDown = 0;
    const rounds = await kit.h.drive({
      maxRounds: 40,
      between: async () => {
        virtualMs += 20 * MINUTE;
        if (virtualMs >= 180 * MINUTE && down) {
          connectionsWhileDown = relay.connectionCount;
          down = false;
        }
        await sleep(300);
      },
    });

    // Assess
    expect(rounds.length).toBeGreaterThan(5);
    expect(rounds.at(-1)!.failed).toEqual([]);
    expect(await kit.h.dlqFor('long-outage')).toEqual([]);
    expect(relay.accepted.map((m) => m.rcptTo)).toEqual([['bob@example.net']]);
    // Suspended rounds deferred without connecting: fewer connections than rounds while down.
    const roundsWhileDown = rounds.length - 1;
    expect(connectionsWhileDown).toBeLessThan(roundsWhileDown);
    expect(findLogs(kit.h, mark, { message: 'deferred', idempotencyKey: 'long-outage', reason: 'route-suspended' }).length).toBeGreaterThan(0);
    expectLog(kit.h, mark, { message: 'relay recovered: probe delivered, suspension lifted', relay: `127.0.0.1:${relay.port}` });
    await kit.finish({
      group: GROUP,
      row: 'relay down 3 h, then back',
      key: 'long-outage',
      recipients: ['bob@example.net'],
      relays: [relay],
      rounds,
      outcome: `${roundsWhileDown} deferrals over 3 virtual hours, ${connectionsWhileDown} connections; relayed once, DLQ empty`,
    });
  });

  it('a relay down past maxAgeSeconds: dead-lettered as expired, with the last reason', async () => {
    const relay = await kit.raw({ script: (phase) => (phase === 'connect' ? { kind: 'reply', code: 421, text: '4.3.2 Service not available', close: true } : undefined) });
    await routeList('o-expired', [relay.port], { delivery: { maxAgeSeconds: 3600 } });
    virtualMs = 0;
    const mark = kit.h.mark();
    await kit.h.world.enqueue([mail('expired', { to: ['bob@example.net'], binding: 'o-expired' })]);

    const rounds = await kit.h.drive({ maxRounds: 10, between: () => (virtualMs += 25 * MINUTE) });

    const [entry] = await kit.h.dlqFor('expired');
    expect(attribute(entry, 'mailrelay.reason')).toBe('expired');
    expect(attribute(entry, 'mailrelay.detail')).toMatch(/not delivered within maxAgeSeconds \(3600 s\); last: (relay-unavailable|route-suspended)/);
    expect(rounds.map((r) => r.failed.length)).toEqual([1, 1, 1, 0]);
    expectLog(kit.h, mark, { message: 'expired', idempotencyKey: 'expired', recipient: 'bob@example.net', outcome: 'expired' });
    expect(kit.h.metricsSince(mark)).toMatchObject({ Expired: 1, DeadLettered: 1 });
    await kit.finish({ group: GROUP, row: 'relay down past maxAgeSeconds', key: 'expired', recipients: ['bob@example.net'], relays: [relay], rounds });
  });

  it('failover: the first relay refuses sessions, the second delivers; the next message skips the suspended first relay', async () => {
    const first = await kit.raw({ script: (phase) => (phase === 'connect' ? { kind: 'reply', code: 421, text: '4.7.0 Too many connections', close: true } : undefined) });
    const second = await kit.smtp();
    await routeList('o-failover', [first.port, second.port]);
    virtualMs = 0;
    const mark = kit.h.mark();
    await kit.h.world.enqueue([mail('failover-1', { to: ['bob@example.net'], binding: 'o-failover' })]);
    const rounds = await kit.h.drive();
    await kit.h.world.enqueue([mail('failover-2', { to: ['carol@example.net'], binding: 'o-failover' })]);
    const rounds2 = await kit.h.drive();

    expect([...rounds, ...rounds2].map((r) => r.failed.length)).toEqual([0, 0]);
    expectLog(kit.h, mark, { message: 'relay refused the session; trying the next relay', relay: `127.0.0.1:${first.port}`, nextRelay: `127.0.0.1:${second.port}`, reason: 'relay-throttled' });
    expectLog(kit.h, mark, { message: 'relay suspended for the fleet', relay: `127.0.0.1:${first.port}`, reason: 'relay-throttled' });
    expect(first.connectionCount).toBe(1);
    expect(second.messages.map((m) => m.rcptTo)).toEqual([['bob@example.net'], ['carol@example.net']]);
    expect(kit.h.metricsSince(mark)).toMatchObject({ RouteFailover: 1, RouteSuspended: 1 });
    await kit.finish({ group: GROUP, row: 'failover to the second relay', key: 'failover-1', recipients: ['bob@example.net'], relays: [first, second], rounds });
    await kit.finish({ group: GROUP, row: 'next message skips the suspended relay', key: 'failover-2', recipients: ['carol@example.net'], relays: [first, second], rounds: rounds2, outcome: 'relayed once via the second relay; first relay not contacted' });
  });

  it('no failover on a 550 to RCPT: the reply is the message’s, the second relay is never contacted', async () => {
    const first = await kit.smtp({ onRcptTo: () => ({ code: 550, message: '5.1.1 No such user' }) });
    const second = await kit.smtp();
    await routeList('o-no-failover', [first.port, second.port]);
    await kit.h.world.enqueue([mail('no-failover', { to: ['gone@example.net'], binding: 'o-no-failover' })]);
    const rounds = await kit.h.drive();
    const [entry] = await kit.h.dlqFor('no-failover');
    expect(attribute(entry, 'mailrelay.reason')).toBe('unknown-recipient');
    expect(second.connectionCount).toBe(0);
    await kit.finish({ group: GROUP, row: 'no failover on 550 at RCPT', key: 'no-failover', recipients: ['gone@example.net'], relays: [first, second], rounds });
  });

  it('two sandboxes share one suspension: the second opens no connection while it lasts; one probe ends it', async () => {
    // Prepare: a second sandbox (its own pool and caches) beside the harness's handler.
    const linesB: LogLine[] = [];
    const log = (level: string) => (message: string, ...extra: Record<string, unknown>[]) => linesB.push({ level, message, ...Object.assign({}, ...extra) });
    const sandboxB = createWorker({
      settings: readSettings(process.env),
      logger: { debug: log('DEBUG'), info: log('INFO'), warn: log('WARN'), error: log('ERROR') },
      metrics: { addMetric: () => undefined },
    });
    const runB = async () => {
      let failedB: { messageId: string; receiptHandle: string }[] = [];
      await pollOnce(
        async (event) => {
          const result = await processBatch(event.Records, { ...sandboxB, claimLeaseMs: 60_000, mayStartDelivery: () => true }, { remainingTimeMs: () => 60_000, minRemainingMs: 0 });
          failedB = event.Records.filter((r) => result.batchItemFailures.some((f) => f.itemIdentifier === r.messageId));
          return result;
        },
        { client: kit.h.world.sqs, queueUrl: kit.h.world.queues.queueUrl, queueArn: kit.h.world.queues.queueArn, waitTimeSeconds: 0 },
      );
      for (const r of failedB) await kit.h.world.sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: kit.h.world.queues.queueUrl, ReceiptHandle: r.receiptHandle, VisibilityTimeout: 0 }));
    };
    let down = true;
    const relay = await kit.raw({ script: (phase) => (phase === 'connect' && down ? { kind: 'reply', code: 421, text: '4.3.2 Service not available', close: true } : undefined) });
    await routeList('o-fleet', [relay.port]);
    virtualMs = 0;
    const mark = kit.h.mark();

    // Act 1: sandbox A meets the outage and suspends the relay for the fleet.
    await kit.h.world.enqueue([mail('fleet-a', { to: ['a@example.net'], binding: 'o-fleet' })]);
    const roundA = await kit.h.invoke();
    // Act 2: sandbox B gets another message for the relay while the suspension lasts.
    await kit.h.world.enqueue([mail('fleet-b', { to: ['b@example.net'], binding: 'o-fleet' })]);
    await runB();

    // Assess: one connection in all (A's), B deferred without connecting, the suspension logged once.
    expect(roundA.failed).toHaveLength(1);
    expect(relay.connectionCount).toBe(1);
    expect(linesB.filter((l) => l.message === 'deferred' && l['reason'] === 'route-suspended').length).toBeGreaterThan(0);
    expect(linesB.filter((l) => l.message === 'relay suspended for the fleet')).toHaveLength(0);
    expect(findLogs(kit.h, mark, { message: 'relay suspended for the fleet', relay: `127.0.0.1:${relay.port}` })).toHaveLength(1);

    // Act 3: the relay comes back; after the suspension ends, one probe delivers and lifts it.
    down = false;
    await sleep(SUSPENSION_S * 1000 + 100);
    for (let i = 0; i < 8 && (await kit.h.queueDepth()) > 0; i++) {
      await (i % 2 === 0 ? runB() : kit.h.invoke());
      await sleep(100);
    }
    expect(await kit.h.queueDepth()).toBe(0);
    expect(relay.accepted.map((m) => m.rcptTo).sort()).toEqual([['a@example.net'], ['b@example.net']]);
    const recovered = [...linesB, ...kit.h.logsSince(mark)].filter((l) => l.message === 'relay recovered: probe delivered, suspension lifted');
    expect(recovered).toHaveLength(1);
    expect(await kit.h.dlqFor('fleet-a')).toEqual([]);
    await kit.finish({ group: GROUP, row: 'two sandboxes, one suspension', key: 'fleet-b', recipients: ['b@example.net'], relays: [relay], rounds: [], outcome: 'B deferred without connecting (relay saw 1 connection); one probe lifted it; both relayed once' });
    sandboxB.pool.closeIdle();
  });
});
