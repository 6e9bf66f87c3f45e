/**
 * The body of a record before it is parsed (docs/design.md §1 "Large messages"): the SQS body
 * itself, or, for an SQS Extended Client pointer, the object it names in the stack's payload
 * bucket. After the message is finally relayed the object is deleted; a dead-lettered message
 * keeps it, so the DLQ entry (the pointer, unchanged) can be redriven; the bucket's lifecycle
 * rule removes whatever is left (docs/payloads.md).
 */
import { MessageValidationError, TransientDeliveryError } from '../core/errors.js';
import { MAX_BODY_BYTES } from '../core/message/constants.js';
import { declaredPayloadSize, describePointer, formatMiB, MAX_PAYLOAD_BYTES, readPayloadPointer, type PayloadPointer } from '../core/payloads.js';
import type { IdempotencyStore, PayloadStore } from '../core/ports.js';
import { PayloadBudgetTimeout, type PayloadBudget, type PayloadLease } from './payloadBudget.js';
import type { QueueRecord, RecordOutcome, WorkerLogger } from './types.js';

export interface PayloadDependencies {
  /** The payload bucket and its store; absent when the worker has none (every pointer is refused). */
  readonly payloads?: { readonly bucket: string; readonly store: PayloadStore; readonly budget?: PayloadBudget | undefined } | undefined;
  readonly logger: WorkerLogger;
  /**
   * How long a record may still wait for the payload budget, in ms (processBatch: the invocation's
   * time left before no delivery may start). Absent: no limit.
   */
  readonly payloadWaitMs?: (() => number) | undefined;
}

export interface ResolvedBody {
  /** The JSON of docs/design.md §1. */
  readonly text: string;
  /** The largest body the parser accepts: the queue's limit, or the payload limit for a pointer. */
  readonly maxBytes: number;
  /** The object the body came from, when it came from S3. */
  readonly pointer?: PayloadPointer | undefined;
  /** The payload budget this record holds until it is done (processRecord releases it). */
  readonly lease?: PayloadLease | undefined;
}

/**
 * With a payload budget, the payload's size is taken before the object is read: the
 * `ExtendedPayloadSize` the extended clients declare (no request), else S3's HeadObject. The
 * record waits for that many bytes of the budget, then reads at most that many; an object larger
 * than declared is not read but its size (the GetObject's Content-Length) is acquired, then read.
 * On success the caller owns `lease` and releases it when the record is done; on a throw nothing
 * is held.
 * @throws MessageValidationError for a malformed pointer, a pointer to another bucket (named in
 *   the reason) and a payload over 40 MiB; a DeliveryError when the object cannot be read
 *   (`payload-missing` is permanent, throttling and 5xx transient) or the budget's wait outlasts
 *   the invocation (`out-of-time`, transient).
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
  const budget = payloads.budget;
  if (!budget) {
    const read = await payloads.store.read(pointer.bucket, pointer.key, MAX_PAYLOAD_BYTES);
    if (read.kind === 'too-large') throw tooLarge(read.bytes);
    deps.logger.debug('payload read from S3', { sqsMessageId: record.messageId, payload: describePointer(pointer), bytes: Buffer.byteLength(read.body, 'utf8') });
    return { text: read.body, maxBytes: MAX_PAYLOAD_BYTES, pointer };
  }
  const context = { sqsMessageId: record.messageId, payload: describePointer(pointer) };
  const size = declared ?? (await payloads.store.size(pointer.bucket, pointer.key));
  if (size > MAX_PAYLOAD_BYTES) throw tooLarge(size);
  let lease = await acquire(budget, size, context, deps);
  try {
    let read = await payloads.store.read(pointer.bucket, pointer.key, size);
    if (read.kind === 'too-large') {
      // Larger than declared: nothing was read. Hold its real size, then read it.
      if (read.bytes > MAX_PAYLOAD_BYTES) throw tooLarge(read.bytes);
      deps.logger.warn('the S3 payload is larger than its ExtendedPayloadSize; reading it with its real size', { ...context, declared: size, bytes: read.bytes });
      lease.release();
      lease = await acquire(budget, read.bytes, context, deps);
      read = await payloads.store.read(pointer.bucket, pointer.key, read.bytes);
      if (read.kind === 'too-large') throw new TransientDeliveryError(`the payload ${describePointer(pointer)} changed size while it was read (${read.bytes.toLocaleString('en-US')} bytes)`, { reason: 'aws-error' });
    }
    const bytes = Buffer.byteLength(read.body, 'utf8');
    // The size acquired was declared by the producer (or S3's HEAD): hold what was read, so an
    // inflated ExtendedPayloadSize (22 bytes declared as 40 MiB) does not starve the other records.
    lease.shrinkTo(bytes);
    deps.logger.debug('payload read from S3', { ...context, bytes });
    return { text: read.body, maxBytes: MAX_PAYLOAD_BYTES, pointer, lease };
  } catch (error) {
    lease.release();
    throw error;
  }
}

/** Waits for `bytes` of the budget until the invocation's time runs low, then defers the record. */
async function acquire(budget: PayloadBudget, bytes: number, context: Record<string, unknown>, deps: PayloadDependencies): Promise<PayloadLease> {
  if (bytes > budget.limitBytes) {
    deps.logger.warn("the S3 payload is larger than the sandbox's payload budget: it runs alone; raise the function's memorySize if it runs out of memory", { ...context, bytes, budgetBytes: budget.limitBytes });
  }
  const waiting = budget.waiting > 0 || budget.held + bytes > budget.limitBytes;
  if (waiting) deps.logger.debug('waiting for the payload budget', { ...context, bytes, heldBytes: budget.held, budgetBytes: budget.limitBytes, waiting: budget.waiting });
  try {
    return await budget.acquire(bytes, { timeoutMs: deps.payloadWaitMs?.() });
  } catch (error) {
    if (!(error instanceof PayloadBudgetTimeout)) throw error;
    throw new TransientDeliveryError(`the invocation ran low on time while this record waited for the sandbox's payload budget (${error.message}; budget ${budget.limitBytes.toLocaleString('en-US')} bytes)`, { reason: 'out-of-time' });
  }
}

/**
 * The idempotency table's `id` recording that the object of `pointer` was deleted after its message
 * was relayed. A message's own id is `<binding>#<idempotencyKey>` with a non-empty binding, so an id
 * starting with `#` is never one of them.
 */
export function relayedPayloadId(pointer: PayloadPointer): string {
  return `#payload#${pointer.bucket}/${pointer.key}`;
}

/**
 * A copy of a pointer record whose message was relayed finds no object: the worker deleted it.
 * That copy must end as a `duplicate`, not as a `payload-missing` dead-letter ("relayed, or in the
 * DLQ": never both; docs/design.md §3). Copies happen: SQS delivers a message twice (in one batch,
 * or to another sandbox), a DLQ entry is redriven twice, or an invocation dies after the delete
 * but before SQS hears the record succeeded.
 *
 * Why a record of the pointer, and not the message's own idempotency record: the message's key
 * and binding are in the body, i.e. in the object that is gone, so a copy cannot check the
 * message's claim before the read, and cannot find it after. So before the object is deleted, the
 * idempotency table records the pointer itself as relayed ({@link relayedPayloadId}, kept as long as
 * any idempotency record: 30 days, beyond the DLQ's 14), and a copy that finds no object looks the
 * pointer up there ({@link wasRelayed}). This holds across sandboxes and invocations, which a
 * sandbox's memory of what it deleted, or making only one record per key of a batch wait, would
 * not. Its cost: one DynamoDB write per relayed S3 payload (none for bodies on the queue), and one
 * read (a claim) per pointer found missing.
 */
export async function wasRelayed(record: QueueRecord, idempotency: IdempotencyStore): Promise<boolean> {
  const pointer = readPayloadPointer(record.body);
  if (!pointer) return false;
  // A lease of 0: a pointer never recorded is left claimable at once (claim is the store's only read).
  const claim = await idempotency.claim(relayedPayloadId(pointer), 0);
  return claim.outcome === 'duplicate' && claim.previous.status === 'delivered';
}

/**
 * After the record's outcome: the object goes once the message is relayed to every recipient,
 * after the pointer is recorded as relayed ({@link wasRelayed}); if that record cannot be written
 * the object is kept, so a missing object is never a relayed message nobody can tell apart.
 * Kept after a dead-letter (the DLQ entry points at it), a retry and a duplicate (a duplicate may
 * be a copy of a dead-lettered message). A failed delete is logged, never changes the outcome:
 * the lifecycle rule removes the object later.
 */
export async function releasePayload(pointer: PayloadPointer | undefined, outcome: RecordOutcome, context: Record<string, unknown>, deps: PayloadDependencies & { readonly idempotency: IdempotencyStore }): Promise<void> {
  if (!pointer || outcome !== 'delivered' || !deps.payloads) return;
  try {
    await deps.idempotency.settle(relayedPayloadId(pointer), { status: 'delivered', delivered: [], failed: [] });
  } catch (error) {
    deps.logger.warn('could not record the payload as relayed; it is kept, the bucket lifecycle rule will delete it', { ...context, payload: describePointer(pointer), detail: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
    return;
  }
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
