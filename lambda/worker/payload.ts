/**
 * The body of a record before it is parsed (docs/design.md §1 "Large messages"): the SQS body
 * itself, or, for an SQS Extended Client pointer, the object it names in the stack's payload
 * bucket. After the message is finally relayed the object is deleted; a dead-lettered message
 * keeps it, so the DLQ entry (the pointer, unchanged) can be redriven; the bucket's lifecycle
 * rule removes whatever is left (docs/payloads.md).
 */
import { MessageValidationError } from '../core/errors.js';
import { MAX_BODY_BYTES } from '../core/message/constants.js';
import { declaredPayloadSize, describePointer, formatMiB, MAX_PAYLOAD_BYTES, readPayloadPointer, type PayloadPointer } from '../core/payloads.js';
import type { PayloadStore } from '../core/ports.js';
import type { QueueRecord, RecordOutcome, WorkerLogger } from './types.js';

export interface PayloadDependencies {
  /** The payload bucket and its store; absent when the worker has none (every pointer is refused). */
  readonly payloads?: { readonly bucket: string; readonly store: PayloadStore } | undefined;
  readonly logger: WorkerLogger;
}

export interface ResolvedBody {
  /** The JSON of docs/design.md §1. */
  readonly text: string;
  /** The largest body the parser accepts: the queue's limit, or the payload limit for a pointer. */
  readonly maxBytes: number;
  /** The object the body came from, when it came from S3. */
  readonly pointer?: PayloadPointer | undefined;
}

/**
 * @throws MessageValidationError for a malformed pointer, a pointer to another bucket (named in
 *   the reason) and a payload over 40 MiB; a DeliveryError when the object cannot be read
 *   (`payload-missing` is permanent, throttling and 5xx transient).
 */
export async function resolveBody(record: QueueRecord, deps: PayloadDependencies): Promise<ResolvedBody> {
  const pointer = readPayloadPointer(record.body);
  if (!pointer) return { text: record.body, maxBytes: MAX_BODY_BYTES };
  const payloads = deps.payloads;
  if (!payloads) {
    throw new MessageValidationError([{ path: '$[1].s3BucketName', message: `S3 pointer to bucket ${pointer.bucket} refused: this worker has no payload bucket (PAYLOAD_BUCKET_NAME is not set)` }]);
  }
  if (pointer.bucket !== payloads.bucket) {
    throw new MessageValidationError([{ path: '$[1].s3BucketName', message: `S3 pointer to bucket ${pointer.bucket} refused: payloads are read only from the stack's payload bucket ${payloads.bucket}` }]);
  }
  const declared = declaredPayloadSize(record.messageAttributes);
  if (declared !== undefined && declared > MAX_PAYLOAD_BYTES) throw tooLarge(declared);
  const read = await payloads.store.read(pointer.bucket, pointer.key, MAX_PAYLOAD_BYTES);
  if (read.kind === 'too-large') throw tooLarge(read.bytes);
  deps.logger.debug('payload read from S3', { sqsMessageId: record.messageId, payload: describePointer(pointer), bytes: Buffer.byteLength(read.body, 'utf8') });
  return { text: read.body, maxBytes: MAX_PAYLOAD_BYTES, pointer };
}

/**
 * After the record's outcome: the object goes once the message is relayed to every recipient.
 * Kept after a dead-letter (the DLQ entry points at it), a retry and a duplicate (a duplicate may
 * be a copy of a dead-lettered message). A failed delete is logged, never changes the outcome:
 * the lifecycle rule removes the object later.
 */
export async function releasePayload(pointer: PayloadPointer | undefined, outcome: RecordOutcome, context: Record<string, unknown>, deps: PayloadDependencies): Promise<void> {
  if (!pointer || outcome !== 'delivered' || !deps.payloads) return;
  try {
    await deps.payloads.store.delete(pointer.bucket, pointer.key);
    deps.logger.debug('payload deleted after delivery', { ...context, payload: describePointer(pointer) });
  } catch (error) {
    deps.logger.warn('could not delete the payload after delivery; the bucket lifecycle rule will', { ...context, payload: describePointer(pointer), detail: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
  }
}

function tooLarge(bytes: number): MessageValidationError {
  return new MessageValidationError([{ path: '$', message: `the S3 payload must be at most ${formatMiB(MAX_PAYLOAD_BYTES)} (${MAX_PAYLOAD_BYTES.toLocaleString('en-US')} bytes); it has ${bytes.toLocaleString('en-US')}` }]);
}
