/** The worker's view of an SQS record, logging and metrics: the smallest interfaces it needs. */

/** The fields of an SQS record the worker reads (aws-lambda's SQSRecord satisfies it). */
export interface QueueRecord {
  readonly messageId: string;
  readonly receiptHandle: string;
  readonly body: string;
  readonly attributes: { readonly ApproximateReceiveCount?: string | undefined };
  readonly eventSourceARN?: string | undefined;
}

/** Powertools Logger satisfies it. Log lines are structured: the second argument is merged in. */
export interface WorkerLogger {
  debug(message: string, ...extra: Record<string, unknown>[]): void;
  info(message: string, ...extra: Record<string, unknown>[]): void;
  warn(message: string, ...extra: Record<string, unknown>[]): void;
  error(message: string, ...extra: Record<string, unknown>[]): void;
}

export type MetricName = 'Delivered' | 'Deferred' | 'Failed' | 'AuthFailed' | 'Duplicate' | 'DeadLettered' | 'DeliveryDuration';

/** Powertools Metrics satisfies it (with MetricUnit values 'Count' and 'Milliseconds'). */
export interface WorkerMetrics {
  addMetric(name: MetricName, unit: 'Count' | 'Milliseconds', value: number): void;
}

/** Delays the next delivery attempt of a record (SQS ChangeMessageVisibility). */
export interface RetryScheduler {
  delay(record: QueueRecord, seconds: number): Promise<void>;
}

export type RecordOutcome = 'delivered' | 'duplicate' | 'dead-lettered' | 'retry';
