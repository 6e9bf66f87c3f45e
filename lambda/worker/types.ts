/** The worker's view of an SQS record, logging and metrics: the smallest interfaces it needs. */
import { unsafeCharacter } from '../core/validation.js';

/** The fields of an SQS record the worker reads (aws-lambda's SQSRecord satisfies it). */
export interface QueueRecord {
  readonly messageId: string;
  readonly receiptHandle: string;
  readonly body: string;
  readonly attributes: {
    readonly ApproximateReceiveCount?: string | undefined;
    /** Epoch ms when SQS accepted the message: its age decides when it expires. */
    readonly SentTimestamp?: string | undefined;
    /** The IAM principal that sent the message: the producer (docs/design.md §1). */
    readonly SenderId?: string | undefined;
  };
  readonly messageAttributes?: Readonly<Record<string, { readonly stringValue?: string | undefined }>> | undefined;
  readonly eventSourceARN?: string | undefined;
}

/**
 * Message attribute carrying the idempotency key of a redriven message: the fallback key when the
 * body has none (instead of the new SQS message id), so a redrive never sends twice.
 */
export const IDEMPOTENCY_KEY_ATTRIBUTE = 'mailrelay.idempotencyKey';

/** The key a record falls back to when its body names none. */
export function fallbackIdempotencyKey(record: QueueRecord): string {
  const carried = record.messageAttributes?.[IDEMPOTENCY_KEY_ATTRIBUTE]?.stringValue;
  // Held to the body field's rules: it reaches log lines and the Message-ID.
  return carried && carried.length <= 256 && unsafeCharacter(carried) === undefined && !/\s/.test(carried) ? carried : record.messageId;
}

/** DLQ entry attributes (docs/errors.md) that together identify one entry; see {@link deadLetterId}. */
export const SOURCE_MESSAGE_ID_ATTRIBUTE = 'mailrelay.sourceMessageId';
export const RECEIVE_COUNT_ATTRIBUTE = 'mailrelay.receiveCount';
export const FAILED_AT_ATTRIBUTE = 'mailrelay.failedAt';
/** On a message `mailrelay dlq redrive` sends: the id of the DLQ entry it came from. */
export const DEAD_LETTER_ID_ATTRIBUTE = 'mailrelay.deadLetterId';

/**
 * A DLQ entry's id: the SQS message it was made from, that message's receive and the time the
 * worker wrote it (to the millisecond). The entry's own SQS id cannot serve: the worker learns it
 * only after writing, SQS's own DLQ redrive does not carry it, and an entry takes SQS's limit of
 * 10 attributes already. Two entries of one message differ in receive or time.
 */
export function deadLetterId(entry: { readonly sourceMessageId: string; readonly receiveCount: number; readonly failedAt: string }): string {
  return `${entry.sourceMessageId}/${entry.receiveCount}/${entry.failedAt}`;
}

/**
 * The DLQ entry a redrive came from: named by `mailrelay dlq redrive`, or, for SQS's own DLQ redrive
 * (which keeps every attribute), rebuilt from the entry's attributes. Undefined when the record is
 * not a redrive or names no entry.
 */
export function redriveSource(record: QueueRecord): string | undefined {
  if (!isRedrive(record)) return undefined;
  const attribute = (name: string): string | undefined => {
    const value = record.messageAttributes?.[name]?.stringValue;
    // Printable ASCII of a sane length; anything else is not used to refuse a claim.
    return value && value.length <= 256 && /^[\x21-\x7e]+$/.test(value) ? value : undefined;
  };
  const named = attribute(DEAD_LETTER_ID_ATTRIBUTE);
  if (named) return named;
  const sourceMessageId = attribute(SOURCE_MESSAGE_ID_ATTRIBUTE);
  const receiveCount = Number(attribute(RECEIVE_COUNT_ATTRIBUTE));
  const failedAt = attribute(FAILED_AT_ATTRIBUTE);
  return sourceMessageId && Number.isSafeInteger(receiveCount) && failedAt ? deadLetterId({ sourceMessageId, receiveCount, failedAt }) : undefined;
}

/**
 * A redrive (`mailrelay dlq redrive`, or SQS's own DLQ redrive of an entry the worker wrote) carries
 * the key attribute; a producer's copy of the same message does not. Only a redrive gives
 * recipients refused before another chance.
 */
export function isRedrive(record: QueueRecord): boolean {
  return record.messageAttributes?.[IDEMPOTENCY_KEY_ATTRIBUTE]?.stringValue !== undefined;
}

/** Powertools Logger satisfies it. Log lines are structured: the second argument is merged in. */
export interface WorkerLogger {
  debug(message: string, ...extra: Record<string, unknown>[]): void;
  info(message: string, ...extra: Record<string, unknown>[]): void;
  warn(message: string, ...extra: Record<string, unknown>[]): void;
  error(message: string, ...extra: Record<string, unknown>[]): void;
}

/** The metric names are defined once, with the stack's, in lambda/core/names.ts. */
export type { MetricName } from '../core/names.js';
import type { MetricName } from '../core/names.js';

/** Powertools Metrics satisfies it (with MetricUnit values 'Count' and 'Milliseconds'). */
export interface WorkerMetrics {
  addMetric(name: MetricName, unit: 'Count' | 'Milliseconds', value: number): void;
}

/** Delays the next delivery attempt of a record (SQS ChangeMessageVisibility). */
export interface RetryScheduler {
  delay(record: QueueRecord, seconds: number): Promise<void>;
}

export type RecordOutcome = 'delivered' | 'duplicate' | 'dead-lettered' | 'retry';
