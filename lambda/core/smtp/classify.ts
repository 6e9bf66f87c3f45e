/**
 * One classification of every delivery failure (KumoMTA's `is_transient`, Postfix's defer-on-doubt):
 * what the relay said decides by its reply code; a broken transport is transient; configuration
 * errors are permanent. Authentication failures are transient: credentials rotate, and mail
 * waits for a fixed credential rather than being lost (docs/design.md §3).
 */
import { isDeliveryError, PermanentDeliveryError, TransientDeliveryError, type DeliveryError } from '../errors.js';
import { matchProviderReply } from './providerReplies.js';

/** The fields nodemailer puts on its errors (`lib/smtp-connection`, `_formatError`). */
export interface SmtpErrorLike {
  readonly message?: string;
  readonly code?: string;
  readonly responseCode?: number;
  readonly response?: string;
  readonly command?: string;
}

/** Reply codes that mean "authenticate differently" (RFC 4954 §6, RFC 3207): 530, 534, 535, 538. */
const AUTH_REPLY_CODES = new Set([530, 534, 535, 538]);
/** nodemailer codes that mean the transport broke, not that the server refused. */
const TRANSPORT_CODES = new Set(['ECONNECTION', 'ESOCKET', 'EDNS', 'ETIMEDOUT', 'EPROTOCOL', 'ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETLS']);

/**
 * Classify a failure of an SMTP attempt.
 * @example
 * classifySmtpError({ code: 'EENVELOPE', responseCode: 451, response: '451 4.3.0 try later', command: 'RCPT TO' })
 * // → TransientDeliveryError, reason 'smtp-transient'
 */
export function classifySmtpError(error: unknown): DeliveryError {
  if (isDeliveryError(error)) return error;
  const e = (error ?? {}) as SmtpErrorLike;
  const details = { responseCode: e.responseCode, response: e.response?.trim(), command: e.command };
  const text = e.message ?? String(error);

  if (e.code === 'EMESSAGE' && /size larger than allowed/i.test(text)) {
    return new PermanentDeliveryError(`message is larger than the relay accepts (${text})`, { ...details, reason: 'message-too-large' });
  }
  if (e.code === 'EENVELOPE' && e.command === 'API') {
    // nodemailer refused the envelope before sending anything (an address it cannot put in a
    // command): no retry can change that.
    return new PermanentDeliveryError(`the relay client refused the envelope: ${text}`, { ...details, reason: 'invalid-message' });
  }
  if (typeof e.responseCode === 'number') {
    const named = matchProviderReply(e.responseCode, e.response);
    if (named) {
      const Type = named.transient ? TransientDeliveryError : PermanentDeliveryError;
      return new Type(`${named.meaning}: ${e.response ?? text}`, { ...details, reason: named.reason, sessionRefused: named.refusesSession });
    }
    if (AUTH_REPLY_CODES.has(e.responseCode) || e.code === 'EAUTH') {
      return new TransientDeliveryError(`authentication failed: ${e.response ?? text}`, { ...details, reason: 'auth-failed' });
    }
    if (e.responseCode >= 400 && e.responseCode < 500) {
      return new TransientDeliveryError(`relay deferred: ${e.response ?? text}`, { ...details, reason: 'smtp-transient' });
    }
    if (e.responseCode >= 500) {
      return new PermanentDeliveryError(`relay rejected: ${e.response ?? text}`, { ...details, reason: 'smtp-permanent' });
    }
  }
  if (e.code === 'EAUTH') {
    // An EAUTH without a reply is nodemailer refusing before it spoke (missing credentials).
    return new PermanentDeliveryError(`authentication not possible: ${text}`, { ...details, reason: 'config-error' });
  }
  if (e.code === 'ETIMEDOUT' || /timeout|timed out/i.test(text)) {
    return new TransientDeliveryError(`timed out: ${text}`, { ...details, reason: 'timeout' });
  }
  if (e.code !== undefined && TRANSPORT_CODES.has(e.code)) {
    return new TransientDeliveryError(`connection failed: ${text}`, { ...details, reason: 'connection' });
  }
  // Defer on doubt: an unknown failure must never lose mail.
  return new TransientDeliveryError(`delivery failed: ${text}`, { ...details, reason: 'connection' });
}

/** Transient failures that, before MAIL FROM, mean the relay is refusing sessions (not a token endpoint or a secret store). */
const SESSION_REFUSAL_REASONS = new Set<string>(['connection', 'timeout', 'smtp-transient', 'relay-throttled', 'relay-unavailable']);

/**
 * The same error marked as a refusal of the session (it happened while connecting, in TLS, in the
 * greeting or EHLO, or as a 4xx to AUTH): the relay, not the message, is the problem. An
 * authentication failure is not: that is the route's credentials, retried after one refresh.
 */
export function asSessionFailure(error: DeliveryError): DeliveryError {
  if (!(error instanceof TransientDeliveryError) || error.sessionRefused) return error;
  if (!SESSION_REFUSAL_REASONS.has(error.reason)) return error;
  return new TransientDeliveryError(error.message, { ...error.details, sessionRefused: true }, { cause: error });
}

/** A recipient-level reply (one RCPT TO) as transient or permanent. */
export function isTransientReply(responseCode: number | undefined): boolean {
  return responseCode === undefined || responseCode < 500;
}
