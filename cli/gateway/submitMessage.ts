/**
 * Puts one built queue body on the queue (docs/design.md §1, §3.1): as it is, or, above 256 KiB
 * with a payload bucket configured, first into the bucket (PutObject) and then as the SQS Extended
 * Client pointer with `ExtendedPayloadSize`, exactly as `mailrelay enqueue` sends it. Succeeds only
 * when both stores said yes, so the gateway answers 250 only then.
 *
 * An object whose SendMessage failed is NOT deleted: an SQS error does not prove SQS dropped the
 * message (a timeout after SQS stored it looks the same), and deleting the object would turn such
 * a pointer into a `payload-missing` dead letter. The bucket's lifecycle rule expires it (15 days);
 * the task role needs no s3:DeleteObject.
 */
import { OFFLOAD_THRESHOLD_BYTES, pointerMessage, type PayloadPointer } from '../../lambda/core/payloads.js';
import type { PayloadOffload, SubmissionQueue } from './ports.js';

export type SubmitResult =
  | { readonly ok: true; readonly messageId: string; readonly payload?: PayloadPointer | undefined }
  /** `offload`: the PutObject failed, nothing was queued. `queue`: SendMessage failed (after the PutObject, when `payload` is set). */
  | { readonly ok: false; readonly stage: 'offload' | 'queue'; readonly error: unknown; readonly payload?: PayloadPointer | undefined };

/**
 * @example
 * const sent = await submitQueueMessage(body, { queue, offload });
 * if (sent.ok) reply(250); else reply(451);
 */
export async function submitQueueMessage(body: string, deps: { readonly queue: SubmissionQueue; readonly offload?: PayloadOffload | undefined }): Promise<SubmitResult> {
  const bytes = Buffer.byteLength(body, 'utf8');
  if (!deps.offload || bytes <= OFFLOAD_THRESHOLD_BYTES) {
    try {
      const { messageId } = await deps.queue.send(body);
      return { ok: true, messageId };
    } catch (error) {
      return { ok: false, stage: 'queue', error };
    }
  }
  let payload: PayloadPointer;
  try {
    payload = await deps.offload.put(body);
  } catch (error) {
    return { ok: false, stage: 'offload', error };
  }
  const pointer = pointerMessage(payload, bytes);
  try {
    const { messageId } = await deps.queue.send(pointer.body, pointer.attributes);
    return { ok: true, messageId, payload };
  } catch (error) {
    return { ok: false, stage: 'queue', error, payload };
  }
}
