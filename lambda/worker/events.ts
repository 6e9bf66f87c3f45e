/**
 * Delivery events (docs/design.md §3): every recipient disposition the worker records
 * (lambda/worker/report.ts recordDispositions, the one producer of outcomes) becomes one event,
 * collected for the batch and published at its end in PutEvents calls of at most 10 entries.
 * Publishing is best effort by design: a failed publish is retried once, then logged and counted
 * (metric EventPublishFailed), and never changes a message's fate.
 */
import { EVENT_DETAIL_TYPE } from '../core/names.js';
import { MAX_EVENTS_PER_PUBLISH, type DeliveryEvent, type EventPublisher } from '../core/ports.js';
import type { Disposition } from './disposition.js';
import type { WorkerLogger, WorkerMetrics } from './types.js';

/** Longest SMTP reply or detail carried in an event: a whole event stays far below PutEvents' 256 KiB. */
export const MAX_EVENT_TEXT = 2_000;

/** Schema version of `detail`: bumped when a field changes meaning. */
export const EVENT_DETAIL_VERSION = 1;

const clip = (text: string | undefined): string | undefined => (text === undefined || text.length <= MAX_EVENT_TEXT ? text : `${text.slice(0, MAX_EVENT_TEXT)}…`);

/**
 * The event of one disposition. `context` is the record's log context (lambda/worker/processRecord.ts):
 * idempotencyKey, messageId, binding, tags, sqsMessageId, queuedAt.
 */
export function deliveryEvent(d: Disposition, context: Readonly<Record<string, unknown>>, time: Date): DeliveryEvent {
  const text = (key: string): string | undefined => (typeof context[key] === 'string' ? (context[key] as string) : undefined);
  const detail: Record<string, unknown> = {
    version: EVENT_DETAIL_VERSION,
    status: d.status,
    idempotencyKey: text('idempotencyKey'),
    messageId: text('messageId'),
    binding: text('binding'),
    tags: (context['tags'] as Record<string, string> | undefined) ?? {},
    recipient: d.recipient,
    route: d.route,
    mechanism: d.mechanism,
    authKey: d.authKey ?? text('authKey'),
    attempt: d.attempt,
    smtpCode: d.smtpCode,
    smtpReply: clip(d.smtpReply),
    reason: d.reason,
    detail: clip(d.detail),
    sqsMessageId: text('sqsMessageId'),
    queuedAt: text('queuedAt'),
    timestamp: time.toISOString(),
  };
  // Absent fields are left out, not sent as null: rules match on presence.
  for (const key of Object.keys(detail)) if (detail[key] === undefined) delete detail[key];
  return { detailType: EVENT_DETAIL_TYPE[d.status], detail, time };
}

export interface EventBatchOptions {
  readonly publisher: EventPublisher;
  readonly logger: WorkerLogger;
  readonly metrics: WorkerMetrics;
  /** @default () => new Date() */
  readonly now?: () => Date;
}

/** The events of one SQS batch: added as dispositions are recorded, published by {@link flush}. */
export class EventBatch {
  private pending: DeliveryEvent[] = [];
  private readonly now: () => Date;

  public constructor(private readonly options: EventBatchOptions) {
    this.now = options.now ?? (() => new Date());
  }

  public add(dispositions: readonly Disposition[], context: Readonly<Record<string, unknown>>): void {
    const time = this.now();
    for (const d of dispositions) this.pending.push(deliveryEvent(d, context, time));
  }

  /** Events added and not yet flushed. */
  public get size(): number {
    return this.pending.length;
  }

  /**
   * Publish everything added so far, 10 per call, the calls in parallel. Never throws.
   * @returns how many events were published and how many were given up on.
   */
  public async flush(): Promise<{ published: number; failed: number }> {
    const events = this.pending;
    this.pending = [];
    if (events.length === 0) return { published: 0, failed: 0 };
    const chunks: DeliveryEvent[][] = [];
    for (let i = 0; i < events.length; i += MAX_EVENTS_PER_PUBLISH) chunks.push(events.slice(i, i + MAX_EVENTS_PER_PUBLISH));
    const lost = (await Promise.all(chunks.map((chunk) => this.publishChunk(chunk)))).flat();
    const failed = lost.length;
    const published = events.length - failed;
    if (published > 0) this.options.metrics.addMetric('EventsPublished', 'Count', published);
    if (failed > 0) {
      this.options.metrics.addMetric('EventPublishFailed', 'Count', failed);
      // Each lost event once, with what a producer would have received (no secret is ever in it).
      for (const { event, error } of lost) {
        this.options.logger.error('delivery event not published', { detailType: event.detailType, error, event: event.detail });
      }
    }
    return { published, failed };
  }

  /** One chunk, and once more for what failed (throttling and internal errors are usually brief). */
  private async publishChunk(chunk: readonly DeliveryEvent[]): Promise<{ event: DeliveryEvent; error: string }[]> {
    let failed = await this.attempt(chunk);
    if (failed.length > 0) failed = await this.attempt(failed.map((f) => f.event));
    return failed;
  }

  private async attempt(events: readonly DeliveryEvent[]): Promise<{ event: DeliveryEvent; error: string }[]> {
    try {
      return [...(await this.options.publisher.publish(events)).failed];
    } catch (error) {
      const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      return events.map((event) => ({ event, error: message }));
    }
  }
}
