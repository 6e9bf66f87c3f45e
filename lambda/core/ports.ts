/**
 * The ports through which the AWS-free core reaches the world. AWS adapters (lambda/adapters)
 * and the local stand-ins implement them; tests may implement them in memory.
 */
import type { Keysource, OAuth2Client } from './config/schema.js';

/** Reads config items by scope (`global`, `binding#acme`, `domain#partner.example`, ...). */
export interface ConfigStore {
  /**
   * The raw stored items for the scopes asked for; a scope with no item is simply absent.
   * Items are returned unvalidated: the core validates each one, so a broken item only
   * affects the messages that use it.
   */
  getItems(scopes: readonly string[]): Promise<ReadonlyMap<string, unknown>>;
}

export interface ReadOptions {
  /** Skip any cache: used once after an authentication failure, because credentials rotate. */
  readonly forceRefresh?: boolean;
}

/**
 * Reads the stored string a keysource points at (a Secrets Manager SecretString, an SSM
 * SecureString, an environment variable, an inline value). Interpreting JSON and `field` is the
 * core's job (keysources.ts).
 * @throws KeysourceNotFoundError when the secret/parameter/variable does not exist.
 */
export interface SecretSource {
  read(ref: Keysource, options?: ReadOptions): Promise<string>;
}

/** Obtains OAuth2 access tokens for XOAUTH2 (issue: XOAUTH2 done properly). */
export interface TokenProvider {
  getAccessToken(client: OAuth2Client, user: string, options?: ReadOptions): Promise<string>;
}

/** What the idempotency store remembers about one idempotency key. */
export interface DeliveryRecord {
  /** `delivered`: every recipient settled, nothing more to send. `dead-lettered`: sent to the DLQ;
   *  a redrive may try its undelivered recipients again. `pending`: a retry is due. */
  readonly status: 'in-progress' | 'pending' | 'delivered' | 'dead-lettered';
  /** Recipients the relay accepted (250): never sent again, not even after a redrive. */
  readonly delivered: readonly string[];
  /** Recipients refused permanently (5xx) in this round: not retried until a redrive. */
  readonly failed: readonly string[];
  /** Why the first of `failed` was refused, so a later DLQ entry still carries the relay's reply. */
  readonly failure?: RecordedFailure | undefined;
  /**
   * The DLQ entries (their ids, lambda/worker/types.ts `deadLetterId`) whose redrive has claimed
   * this key: another redrive of one of them is a `duplicate` (docs/design.md §3).
   */
  readonly redrivenEntries?: readonly string[] | undefined;
  /** The redrive (its DLQ entry id) whose round `failed` was refused in; absent: the message's own. */
  readonly refusedIn?: string | undefined;
}

export interface RecordedFailure {
  readonly reason: string;
  readonly detail?: string | undefined;
  readonly responseCode?: number | undefined;
  readonly response?: string | undefined;
  readonly route?: string | undefined;
}

export interface ClaimOptions {
  /** The record is a DLQ redrive: a dead-lettered key may be claimed again. @default false */
  readonly redrive?: boolean | undefined;
  /**
   * The DLQ entry a redrive came from (its id, lambda/worker/types.ts `deadLetterId`). A claim
   * adds it to the record's `redrivenEntries`, and a dead-lettered key is not taken back by a
   * redrive of an entry already there (docs/design.md §3): an SQS copy of a redrive that ran, or an
   * entry an interrupted `dlq redrive` left behind. Every other entry, including one written by the
   * redrive itself when it failed again, can still be redriven. Absent (a redrive that names no
   * entry): any redrive may take a dead-lettered key back, as before entries had ids.
   */
  readonly redriveOf?: string | undefined;
}

export type ClaimResult =
  | { readonly outcome: 'claimed'; readonly previous?: DeliveryRecord | undefined }
  /** Everything was delivered before, or the key was dead-lettered and this is not a redrive: acknowledge without sending. */
  | { readonly outcome: 'duplicate'; readonly previous: DeliveryRecord }
  /** Another invocation holds the claim right now: retry later, do not send. */
  | { readonly outcome: 'busy' };

/**
 * Remembers, per idempotency key, which recipients are settled, so a redelivered or re-sent
 * message is never relayed twice, and claims a key for one invocation at a time.
 */
export interface IdempotencyStore {
  /**
   * Claim `key` for `leaseMs` (the caller's remaining time). A key that was dead-lettered is
   * claimed again only by a redrive; for anyone else it is a `duplicate`.
   */
  claim(key: string, leaseMs: number, options?: ClaimOptions): Promise<ClaimResult>;
  /** Record the outcome and release the claim. */
  settle(key: string, record: SettledRecord): Promise<void>;
  /**
   * Record several outcomes in as few calls as the store allows (lambda/worker/settleBatch.ts).
   * Unconditional, like `settle`: each key is still held by the caller's claim. Never throws for
   * one entry: returns the entries that could not be written, each with its error.
   */
  settleMany?(entries: readonly SettleEntry[]): Promise<readonly SettleFailure[]>;
}

/** What `settle` writes: a claim is never settled back to in-progress. */
export type SettledRecord = Omit<DeliveryRecord, 'status'> & { status: Exclude<DeliveryRecord['status'], 'in-progress'> };

export interface SettleEntry {
  readonly key: string;
  readonly record: SettledRecord;
}

export interface SettleFailure {
  readonly key: string;
  readonly error: unknown;
}

/** Attributes of a dead-lettered message (docs/design.md §3): the reason, the SMTP reply, the route. */
export interface DeadLetterReason {
  readonly reason: string;
  readonly detail: string;
  readonly responseCode?: number | undefined;
  readonly response?: string | undefined;
  readonly route?: string | undefined;
  /** Recipients still undelivered: what a redrive will send to. */
  readonly recipients: readonly string[];
  readonly idempotencyKey: string;
  readonly sourceMessageId: string;
  readonly receiveCount: number;
  readonly failedAt: string;
}

export interface DeadLetterQueue {
  /**
   * Send the original body, unchanged, with the reason as message attributes.
   * @returns false when body + attributes exceed the queue's size limit (nothing was sent).
   */
  send(body: string, reason: DeadLetterReason): Promise<boolean>;
}

/** What {@link PayloadStore.read} found: the payload, or only its size when it is over the limit. */
export type PayloadRead = { readonly kind: 'found'; readonly body: string } | { readonly kind: 'too-large'; readonly bytes: number };

/**
 * The stack's payload bucket (docs/design.md §1 "Large messages"): where bodies above the queue's
 * limit wait behind an S3 pointer (lambda/core/payloads.ts).
 */
export interface PayloadStore {
  /**
   * The object's body as UTF-8, or `too-large` (nothing read) when it has more than `maxBytes`.
   * @throws PermanentDeliveryError (`payload-missing`) when the object does not exist;
   *   TransientDeliveryError for throttling, 5xx and network failures.
   */
  read(bucket: string, key: string, maxBytes: number): Promise<PayloadRead>;
  /**
   * The object's size in bytes (S3 HeadObject's ContentLength), without reading it: asked only
   * for a pointer whose producer did not declare `ExtendedPayloadSize`.
   * @throws like {@link PayloadStore.read}.
   */
  size(bucket: string, key: string): Promise<number>;
  /** Deletes the object; deleting one that is already gone succeeds. */
  delete(bucket: string, key: string): Promise<void>;
}
/**
 * One delivery event (docs/design.md §3): a recipient's fate, as producers subscribe to it on
 * the event bus. `source` is always `mailrelay` (lambda/core/names.ts EVENT_SOURCE).
 */
export interface DeliveryEvent {
  /** One per status: `Recipient Delivered`, `Recipient Bounced`, ... (EVENT_DETAIL_TYPE). */
  readonly detailType: string;
  /** JSON-serialisable; never holds a secret. */
  readonly detail: Readonly<Record<string, unknown>>;
  readonly time: Date;
}

/** What one publish call could not deliver, each with the bus's error. */
export interface PublishResult {
  readonly failed: readonly { readonly event: DeliveryEvent; readonly error: string }[];
}

/** Puts delivery events on the bus: at most {@link MAX_EVENTS_PER_PUBLISH} per call (PutEvents' limit). */
export interface EventPublisher {
  /** @throws when the call as a whole failed (network, throttling, access denied). */
  publish(events: readonly DeliveryEvent[]): Promise<PublishResult>;
}

/** EventBridge PutEvents takes at most 10 entries per call. */
export const MAX_EVENTS_PER_PUBLISH = 10;
