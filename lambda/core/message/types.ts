/** The queue message of docs/design.md §1 after validation: what the rest of the core works with. */
import type { MessageAuthOverride } from '../config/schema.js';

export interface MailAddress {
  /** Display name, '' when none. */
  readonly name: string;
  /** `local@domain` with the domain as an A-label, lower-cased; the local part as given. */
  readonly address: string;
  /** The domain as an A-label, lower-cased (`bücher.example` → `xn--bcher-kva.example`). */
  readonly domain: string;
}

export interface MessageAttachment {
  /** Last path segment only. */
  readonly filename: string;
  /**
   * `type/subtype` with its parameters in normal form (`text/csv; charset=utf-8`), never
   * `multipart/*`; absent = let nodemailer infer from the filename.
   */
  readonly contentType?: string | undefined;
  readonly content: Buffer;
  /** Content-ID without `<>`, unique in the message: the HTML shows the part as `cid:…`. */
  readonly cid?: string | undefined;
  /** `inline` whenever there is a cid. */
  readonly disposition: 'attachment' | 'inline';
  /** Set on the calendar invite (`text/calendar` with `method`): the iTIP method, upper-case. */
  readonly calendarMethod?: string | undefined;
}

/** `listUnsubscribe`: RFC 8058 one-click unsubscribe. */
export interface ListUnsubscribe {
  /** An `https:` URL that takes the one-click POST. */
  readonly url: string;
  /** A `mailto:` URL offered beside it. */
  readonly mailto?: string | undefined;
}

export interface StructuredContent {
  readonly kind: 'structured';
  readonly from: MailAddress;
  readonly to: readonly MailAddress[];
  readonly cc: readonly MailAddress[];
  readonly bcc: readonly MailAddress[];
  readonly replyTo?: MailAddress | undefined;
  readonly subject?: string | undefined;
  readonly text?: string | undefined;
  readonly html?: string | undefined;
  /** Custom headers (never one the worker owns); `Message-ID` is lifted into {@link QueueMessage.messageId}. */
  readonly headers: Readonly<Record<string, string>>;
  readonly attachments: readonly MessageAttachment[];
  /** Writes List-Unsubscribe and List-Unsubscribe-Post (never together with them in `headers`). */
  readonly listUnsubscribe?: ListUnsubscribe | undefined;
}

export interface RawContent {
  readonly kind: 'raw';
  /** The whole RFC 5322 message: CRLF line endings, Bcc header removed, Message-ID present. */
  readonly raw: Buffer;
}

export interface QueueMessage {
  /** From the body, else the SQS message id. 1-256 printable characters. */
  readonly idempotencyKey: string;
  /** Lower-cased; the sender's domain (A-label) unless the body names one. */
  readonly binding: string;
  readonly bindingSource: 'message' | 'sender-domain';
  /** The author (header From), used for the default binding and EHLO name. */
  readonly sender: MailAddress;
  /**
   * SMTP envelope: MAIL FROM (`envelope.from` when given, else the author) and the RCPT TO list
   * (to + cc + bcc, or a raw message's envelope.to / headers; de-duplicated, order kept).
   */
  readonly envelope: { readonly from: string; readonly to: readonly MailAddress[] };
  readonly content: StructuredContent | RawContent;
  /** `<id@domain>`: the message's own, or derived from the idempotency key. */
  readonly messageId: string;
  readonly auth?: MessageAuthOverride | undefined;
  readonly tags: Readonly<Record<string, string>>;
  /** Set by `mailrelay gateway`: the SMTP submission this message came from. */
  readonly submission?: Submission | undefined;
}

/** docs/design.md §3.1: the identities and the client of an SMTP submission. */
export interface Submission {
  /** The authentication identity (SASL authc). */
  readonly authnId: string;
  /** The authorization identity (SASL authz; equals authnId when the client sent none). */
  readonly authzId: string;
  readonly clientAddress: string;
  readonly receivedAt: string;
}
