/**
 * EventPublisher on Amazon EventBridge: one PutEvents call per chunk (at most 10 entries), every
 * entry `source: "mailrelay"` on the stack's bus. PutEvents answers per entry: the entries it
 * refused come back as failed, each with its error code, for the worker to retry once and count.
 */
import { PutEventsCommand, type EventBridgeClient, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { EVENT_SOURCE } from '../core/names.js';
import { MAX_EVENTS_PER_PUBLISH, type DeliveryEvent, type EventPublisher, type PublishResult } from '../core/ports.js';

export interface EventBridgePublisherOptions {
  readonly client: Pick<EventBridgeClient, 'send'>;
  /** The bus's name or ARN (EVENT_BUS_NAME). */
  readonly eventBusName: string;
}

export class EventBridgePublisher implements EventPublisher {
  public constructor(private readonly options: EventBridgePublisherOptions) {}

  public async publish(events: readonly DeliveryEvent[]): Promise<PublishResult> {
    if (events.length === 0) return { failed: [] };
    if (events.length > MAX_EVENTS_PER_PUBLISH) throw new RangeError(`PutEvents takes at most ${MAX_EVENTS_PER_PUBLISH} entries, got ${events.length}`);
    const entries: PutEventsRequestEntry[] = events.map((event) => ({
      EventBusName: this.options.eventBusName,
      Source: EVENT_SOURCE,
      DetailType: event.detailType,
      Detail: JSON.stringify(event.detail),
      Time: event.time,
    }));
    const response = await this.options.client.send(new PutEventsCommand({ Entries: entries }));
    if (!response.FailedEntryCount) return { failed: [] };
    // Result entries are in request order; a failed one has an ErrorCode and no EventId.
    const failed = events.flatMap((event, i) => {
      const result = response.Entries?.[i];
      if (result?.EventId && !result.ErrorCode) return [];
      return [{ event, error: result?.ErrorCode ? `${result.ErrorCode}: ${result.ErrorMessage ?? ''}`.trim() : 'no result for this entry' }];
    });
    return { failed };
  }
}
