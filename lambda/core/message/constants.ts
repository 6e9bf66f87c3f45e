/** Limits of the queue message (docs/design.md §1 and §1.1). Each constant carries its unit. */

/** The largest SQS body: the queue's own limit, 1 MiB of UTF-8. */
export const MAX_BODY_BYTES = 1_048_576;

/** Recipients in `to` + `cc` + `bcc` (or the raw envelope) after de-duplication. */
export const MAX_RECIPIENTS = 1_000;

/** `idempotencyKey` length, counted in Unicode code points. */
export const MAX_IDEMPOTENCY_KEY_CHARS = 256;

/**
 * How deep the JSON may nest. The deepest valid field (`auth.pass.secret`) sits at depth 3;
 * the limit only keeps hostile nesting from exhausting the stack in recursive walks.
 */
export const MAX_JSON_DEPTH = 16;

/** RFC 5322 §2.1.1: a line is at most 998 characters, CRLF excluded. Used for header text too. */
export const MAX_LINE_OCTETS = 998;

/** Subject length in UTF-16 code units; nodemailer folds and encodes it, so this is only a sanity cap. */
export const MAX_SUBJECT_CHARS = 998;

/**
 * Header value length in UTF-16 code units. nodemailer folds long values, so this is only a
 * bound: 16,384 units stay under Postfix's default `header_size_limit` (102,400 octets) even
 * when every character needs a base64 encoded word.
 */
export const MAX_HEADER_VALUE_CHARS = 16_384;

/** RFC 5321 §4.5.3.1: local part ≤ 64 octets, whole address (path minus `<>`) ≤ 254 octets. */
export const MAX_LOCAL_PART_OCTETS = 64;
export const MAX_ADDRESS_OCTETS = 254;
/** RFC 1035: a domain name is at most 253 characters in text form, a label at most 63. */
export const MAX_DOMAIN_CHARS = 253;

/** One address element, display name included. */
export const MAX_MAILBOX_CHARS = 998;

/** Attachment file names: the common file-system limit. */
export const MAX_FILENAME_CHARS = 255;

/** `tags`: at most this many entries (as SES message tags), keys and values bounded for log lines. */
export const MAX_TAGS = 50;
export const MAX_TAG_KEY_CHARS = 128;
export const MAX_TAG_VALUE_CHARS = 256;

/** Fields that are not allowed beside `raw`: the raw message carries them itself. */
export const STRUCTURED_FIELDS = ['from', 'to', 'cc', 'bcc', 'replyTo', 'subject', 'text', 'html', 'headers', 'attachments', 'listUnsubscribe'] as const;

/**
 * Issues reported per field (a list or a map) and per message. A hostile 1 MiB body can hold
 * hundreds of thousands of bad elements; listing them all would cost seconds and produce a
 * reason too large for a log line or a DLQ message attribute. The rest are counted.
 */
export const MAX_ISSUES_PER_FIELD = 50;
export const MAX_REPORTED_ISSUES = 100;

/** Custom header fields in `headers`. */
export const MAX_HEADERS = 100;
