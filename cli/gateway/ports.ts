/**
 * What the gateway needs from the world, as ports: the queue it submits to, the payload bucket
 * large bodies go to, and where its events go. The gateway core knows nothing of AWS:
 * `sqsSubmissionQueue.ts` is the SQS adapter, `cli/adapters/s3PayloadOffloader.ts` the S3 one.
 * Config items and secrets come through the core's own ports (`ConfigStore`, `SecretSource`).
 */
import type { PayloadPointer, PointerMessage } from '../../lambda/core/payloads.js';

/** The queue accepted messages go to. */
export interface SubmissionQueue {
  /**
   * Send one queue message body. Resolves only once the queue has durably accepted it.
   * @throws anything when it did not: the gateway answers 451 and the client retries.
   */
  send(body: string, attributes?: PointerMessage['attributes']): Promise<{ readonly messageId: string }>;
}

/** The stack's payload bucket: where a body over 256 KiB goes before its pointer is queued (docs/payloads.md). */
export interface PayloadOffload {
  readonly bucket: string;
  /**
   * Store one queue body under a new key. Resolves only once the bucket has durably stored it.
   * @throws anything when it did not: the gateway queues nothing and answers 451.
   */
  put(body: string): Promise<PayloadPointer>;
}

/** What happened, for logs and metrics (docs/gateway.md lists the events). */
export type GatewayEventName =
  | 'connected'
  | 'auth-succeeded'
  | 'auth-failed'
  | 'auth-locked-out'
  | 'auth-unavailable'
  | 'mail-refused'
  | 'rcpt-refused'
  | 'message-refused'
  | 'message-queued'
  | 'queue-failed'
  | 'offload-failed';

export interface GatewayEvent {
  readonly event: GatewayEventName;
  /** The SMTP reply code the client got (2xx, 4xx, 5xx). */
  readonly code?: number;
  readonly sessionId?: string;
  readonly clientAddress?: string;
  /** Never a password: identities, addresses, reasons and ids only. */
  readonly [field: string]: unknown;
}

/** Receives every gateway event; the default writes one JSON line each (CloudWatch metric filters count them). */
export interface GatewayEventSink {
  emit(event: GatewayEvent): void;
}
