/**
 * Idempotency keys are scoped to the binding (docs/design.md §1): the record of key `k` sent for
 * binding `b` is stored under `b#k`. A binding name holds no `#`, so the first `#` splits the two.
 * The same key under two bindings names two messages, and no producer can reach (and suppress as
 * a duplicate) another binding's key, not even through the `mailrelay.idempotencyKey` redrive
 * attribute, which only supplies the key part.
 */

/** The idempotency table's `id` of a message: `<binding>#<idempotencyKey>`. */
export function idempotencyRecordId(message: { readonly binding: string; readonly idempotencyKey: string }): string {
  return `${message.binding}#${message.idempotencyKey}`;
}
