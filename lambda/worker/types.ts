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

/**
 * Message attribute naming the SQS message a DLQ entry was made from. The worker writes it on every
 * entry; SQS's own DLQ redrive keeps it and `mailrelay dlq redrive` copies it, so a redrive names the
 * entry it came from and the same entry is never taken back twice (docs/design.md §3).
 */
export const SOURCE_MESSAGE_ID_ATTRIBUTE = 'mailrelay.sourceMessageId';

/** The DLQ entry a redrive came from (its source message id), when the record carries one. */
export function redriveSource(record: QueueRecord): string | undefined {
  if (!isRedrive(record)) return undefined;
  const source = record.messageAttributes?.[SOURCE_MESSAGE_ID_ATTRIBUTE]?.stringValue;
  // An SQS message id (a UUID); anything else is not used to refuse a claim.
  return source && source.length <= 128 && /^[\x21-\x7e]+$/.test(source) ? source : undefined;
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
