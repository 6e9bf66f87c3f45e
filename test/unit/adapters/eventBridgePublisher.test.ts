/**
 * The EventBridge adapter and the event shape: PutEvents entries as EventBridge expects them,
 * per-entry failures mapped back to their events, and each disposition's detail.
 */
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { EventBridgePublisher } from '../../../lambda/adapters/eventBridgePublisher.js';
import type { DeliveryEvent } from '../../../lambda/core/ports.js';
import { deliveryEvent, EventBatch, MAX_EVENT_TEXT } from '../../../lambda/worker/events.js';

const client = new EventBridgeClient({ region: 'us-east-1' });
const mock = mockClient(client);
const time = new Date('2026-12-04T21:00:00Z');
const event = (i: number): DeliveryEvent => ({ detailType: 'Recipient Delivered', detail: { i }, time });

beforeEach(() => mock.reset());

describe('EventBridgePublisher', () => {
  it('puts each event with source mailrelay on the bus, and maps refused entries back to their events', async () => {
    mock.on(PutEventsCommand).resolves({ FailedEntryCount: 1, Entries: [{ EventId: 'a' }, { ErrorCode: 'ThrottlingException', ErrorMessage: 'slow down' }, { EventId: 'c' }] });
    const publisher = new EventBridgePublisher({ client, eventBusName: 'arn:aws:events:us-east-1:111122223333:event-bus/mail' });

    const result = await publisher.publish([event(0), event(1), event(2)]);

    expect(result.failed).toEqual([{ event: event(1), error: 'ThrottlingException: slow down' }]);
    const input = mock.commandCalls(PutEventsCommand)[0]!.args[0].input;
    expect(input.Entries?.[0]).toEqual({ EventBusName: 'arn:aws:events:us-east-1:111122223333:event-bus/mail', Source: 'mailrelay', DetailType: 'Recipient Delivered', Detail: '{"i":0}', Time: time });
  });

  it('refuses more than 10 events in one call, before calling', async () => {
    const publisher = new EventBridgePublisher({ client, eventBusName: 'b' });
    await expect(publisher.publish(Array.from({ length: 11 }, (_, i) => event(i)))).rejects.toThrow(/at most 10 entries/);
    expect(mock.commandCalls(PutEventsCommand)).toHaveLength(0);
  });
});

describe('delivery event detail', () => {
  it('carries the record context and the disposition, leaves absent fields out and clips long texts', () => {
    const made = deliveryEvent(
      { recipient: 'bob@example.net', status: 'bounced', smtpCode: 550, smtpReply: `550 ${'x'.repeat(3000)}`, attempt: 2, route: 'r' },
      { idempotencyKey: 'k', messageId: '<m@x>', binding: 'acme.example', sqsMessageId: 's', queuedAt: '2026-12-04T20:00:00.000Z', authKey: 'ak' },
      time,
    );
    expect(made.detailType).toBe('Recipient Bounced');
    expect(Object.keys(made.detail).sort()).toEqual(
      ['attempt', 'authKey', 'binding', 'idempotencyKey', 'messageId', 'queuedAt', 'recipient', 'route', 'smtpCode', 'smtpReply', 'sqsMessageId', 'status', 'tags', 'timestamp', 'version'].sort(),
    );
    expect(made.detail['tags']).toEqual({});
    expect((made.detail['smtpReply'] as string).length).toBe(MAX_EVENT_TEXT + 1);
  });

  it('a batch whose publisher throws every time loses its events without throwing, and says so once per event', async () => {
    const errors: unknown[] = [];
    const metrics: [string, number][] = [];
    const batch = new EventBatch({
      publisher: { publish: () => Promise.reject(new Error('network down')) },
      logger: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: (_m, extra) => errors.push(extra) },
      metrics: { addMetric: (name, _unit, value) => metrics.push([name, value]) },
    });
    batch.add([{ recipient: 'a@x', status: 'delivered', attempt: 1 }, { recipient: 'b@x', status: 'deferred', attempt: 1 }], { idempotencyKey: 'k' });

    await expect(batch.flush()).resolves.toEqual({ published: 0, failed: 2 });
    expect(metrics).toEqual([['EventPublishFailed', 2]]);
    expect(errors).toHaveLength(2);
    expect(batch.size).toBe(0);
  });
});
