/** Limits and timings of `mailrelay gateway` (docs/design.md §3.1). Each constant carries its unit. */
import { MAX_BODY_BYTES } from '../../lambda/core/message/constants.js';
import { MAX_PAYLOAD_BYTES } from '../../lambda/core/payloads.js';

/**
 * Room kept in the SQS body for everything beside `raw`: the envelope (up to 1,000 recipients),
 * the binding, the submission, and the growth of `raw` when JSON escapes its CRLFs and quotes.
 */
export const QUEUE_ENVELOPE_RESERVE_BYTES = 64 * 1024;

/**
 * The largest message the gateway takes (announced as SIZE) without a payload bucket: the SQS body
 * limit minus the reserve (983,040 bytes). With a bucket, see {@link MAX_OFFLOADED_MESSAGE_BYTES}.
 */
export const MAX_MESSAGE_BYTES = MAX_BODY_BYTES - QUEUE_ENVELOPE_RESERVE_BYTES;

/**
 * The largest message with a payload bucket configured: bodies over 256 KiB go to S3 behind an
 * SQS Extended Client pointer, so the limit is the worker's 40 MiB pointer limit minus the same
 * reserve (41,877,504 bytes). A message whose JSON body still comes out above 40 MiB (long runs
 * of short lines: each CRLF grows by two bytes in JSON) is refused with 552 after DATA.
 */
export const MAX_OFFLOADED_MESSAGE_BYTES = MAX_PAYLOAD_BYTES - QUEUE_ENVELOPE_RESERVE_BYTES;

/** The wait before a 535: slows password guessing without holding a connection for long. */
export const AUTH_FAILURE_DELAY_MS = 1_000;
/** The delay grows with each failure from the same address within the window, up to this. */
export const AUTH_FAILURE_MAX_DELAY_MS = 8_000;
/** Failures from one client address within the window before AUTH is refused outright. */
export const AUTH_FAILURES_BEFORE_LOCKOUT = 10;
/** How long failures are remembered, and how long an address stays refused once locked out. */
export const AUTH_FAILURE_WINDOW_MS = 15 * 60_000;
export const AUTH_LOCKOUT_MS = 15 * 60_000;
/** Client addresses the failure counter remembers; the oldest entries go first. */
export const AUTH_FAILURE_TRACKED_ADDRESSES = 10_000;

/** How long a submitter item and its password are cached. */
export const SUBMITTER_CACHE_TTL_MS = 60_000;

/** The connection limits of one gateway process. */
export const MAX_CLIENTS = 200;
/** smtp-server closes an idle connection after this (RFC 5321 §4.5.3.2 suggests 5 minutes). */
export const SOCKET_TIMEOUT_MS = 5 * 60_000;

/** Default ports: submission with STARTTLS, submissions (implicit TLS), the HTTP health check. */
export const DEFAULT_SUBMISSION_PORT = 587;
export const DEFAULT_IMPLICIT_TLS_PORT = 465;
export const DEFAULT_HEALTH_PORT = 8025;
