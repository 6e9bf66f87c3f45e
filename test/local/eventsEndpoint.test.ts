/**
 * The local EventBridge stand-in answers the real @aws-sdk/client-eventbridge as EventBridge does:
 * 1-10 entries per call, a malformed entry refused alone, an unknown bus refused, injected failures.
 */
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { localAwsClientConfig } from '../../local/awsClientConfig.js';
import { startEventsEndpoint, type CapturedEvent, type EventsEndpoint } from '../../local/eventsEndpoint.js';

let bus: EventsEndpoint;
let client: EventBridgeClient;
const seen: CapturedEvent[] = [];
const entry = (i: number, extra: object = {}) => ({ EventBusName: 'b', Source: 'mailrelay', DetailType: 'Recipient Delivered', Detail: JSON.stringify({ i }), ...extra });

beforeAll(async () => {
  bus = await startEventsEndpoint({ buses: ['b'], onEvent: (e) => seen.push(e) });
  client = new EventBridgeClient({ ...localAwsClientConfig(bus.url), maxAttempts: 1 });
});
afterAll(async () => {
  client.destroy();
  await bus.stop();
});
beforeEach(() => {
  bus.clear();
  seen.length = 0;
});

describe('local EventBridge stand-in', () => {
  it('accepts up to 10 entries and hands each to onEvent in the EventBridge envelope', async () => {
    const time = new Date('2026-12-04T21:00:00Z');
    const result = await client.send(new PutEventsCommand({ Entries: Array.from({ length: 10 }, (_, i) => entry(i, { Time: time })) }));
    expect(result.FailedEntryCount).toBe(0);
    expect(result.Entries?.every((e) => typeof e.EventId === 'string')).toBe(true);
    expect(seen).toHaveLength(10);
    expect(seen[3]).toMatchObject({ source: 'mailrelay', 'detail-type': 'Recipient Delivered', detail: { i: 3 }, time: '2026-12-04T21:00:00Z', eventBusName: 'b', account: '000000000000' });
  });

  it('refuses 11 entries, an unknown bus, and a malformed entry alone', async () => {
    await expect(client.send(new PutEventsCommand({ Entries: Array.from({ length: 11 }, (_, i) => entry(i)) }))).rejects.toMatchObject({ name: 'ValidationException' });
    await expect(client.send(new PutEventsCommand({ Entries: [entry(1, { EventBusName: 'nope' })] }))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    const mixed = await client.send(new PutEventsCommand({ Entries: [entry(1), entry(2, { Detail: '[1]' })] }));
    expect(mixed.FailedEntryCount).toBe(1);
    expect(mixed.Entries?.[1]).toMatchObject({ ErrorCode: 'InvalidArgument' });
    expect(bus.events.map((e) => e.detail)).toEqual([{ i: 1 }]);
  });

  it('fails calls or entries on request', async () => {
    bus.failNext({ type: 'ThrottlingException' });
    await expect(client.send(new PutEventsCommand({ Entries: [entry(1)] }))).rejects.toMatchObject({ name: 'ThrottlingException' });
    bus.failNext({ type: 'InternalFailure', scope: 'entries' });
    expect((await client.send(new PutEventsCommand({ Entries: [entry(1), entry(2)] }))).FailedEntryCount).toBe(2);
    expect((await client.send(new PutEventsCommand({ Entries: [entry(3)] }))).FailedEntryCount).toBe(0);
    expect(bus.calls.map((c) => c.failedWith)).toEqual(['ThrottlingException', 'InternalFailure', undefined]);
  });
});
