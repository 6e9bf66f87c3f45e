/**
 * The error tree of mailrelay's core. Whether a failure is retried is decided by its type:
 * a {@link TransientDeliveryError} waits for another attempt (visibility timeout, then the
 * queue's redrive policy); a {@link PermanentDeliveryError} goes to the dead-letter queue at once.
 */

/** One problem with one field of an input: `to[1]`, `relay.port`, `$` for the whole body. */
export interface FieldIssue {
  readonly path: string;
  readonly message: string;
}

/** Base class of every error mailrelay raises on purpose. */
export class MailrelayError extends Error {
  public constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'MailrelayError';
  }
}

/** A queue message that breaks the contract of docs/design.md §1. Never retried. */
export class MessageValidationError extends MailrelayError {
  public readonly issues: readonly FieldIssue[];
  public constructor(issues: readonly FieldIssue[], options?: ErrorOptions) {
    super(`invalid message: ${formatIssues(issues)}`, options);
    this.name = 'MessageValidationError';
    this.issues = issues;
  }
}

/** A config item (docs/design.md §2) that cannot be used. Affects only the messages that use it. */
export class ConfigValidationError extends MailrelayError {
  public readonly scope: string | undefined;
  public readonly issues: readonly FieldIssue[];
  public constructor(scope: string | undefined, issues: readonly FieldIssue[], options?: ErrorOptions) {
    super(`invalid config item${scope ? ` ${scope}` : ''}: ${formatIssues(issues)}`, options);
    this.name = 'ConfigValidationError';
    this.scope = scope;
    this.issues = issues;
  }
}

/** Why a delivery attempt failed, in words an operator can act on. */
export type FailureReason =
  | 'invalid-message'
  | 'invalid-config'
  | 'config-error'
  | 'secret-missing'
  | 'secret-unavailable'
  /** The DKIM key cannot be read or parsed (docs/design.md §2 `dkim`): a configuration error. */
  | 'dkim-key-invalid'
  /** The S3 object a pointer body names does not exist (or may not be read): docs/design.md §1. */
  | 'payload-missing'
  | 'tls-required'
  | 'auth-mechanism-unavailable'
  | 'auth-failed'
  | 'smtp-transient'
  | 'smtp-permanent'
  | 'connection'
  | 'timeout'
  | 'message-too-large'
  | 'extension-unavailable'
  | 'token-endpoint'
  | 'aws-throttled'
  | 'aws-error'
  | 'out-of-time'
  // Named provider replies (lambda/core/smtp/providerReplies.ts): each needs a different fix.
  | 'smtp-auth-disabled'
  | 'basic-auth-disabled'
  | 'auth-unsuccessful'
  | 'app-password-required'
  | 'web-login-required'
  | 'send-as-denied'
  | 'tenant-blocked'
  | 'unknown-recipient'
  | 'mailbox-full'
  | 'policy-refused'
  | 'relay-throttled'
  | 'relay-unavailable'
  // The route is suspended fleet-wide after its relay refused sessions: deferred without connecting.
  | 'route-suspended'
  // Over a fleet-wide limit of the relay (limits.maxConnections, limits.messagesPerSecond): deferred, not a failed attempt.
  | 'connection-limit'
  | 'rate-limit';

/** Deferrals that wait for a relay's limit: not failed attempts (lambda/worker/disposition.ts). */
export const LIMIT_REASONS: ReadonlySet<FailureReason> = new Set<FailureReason>(['connection-limit', 'rate-limit']);

/** Authentication failures that earn one forced re-read of the credentials (credentials rotate). */
export const AUTH_FAILURE_REASONS: ReadonlySet<FailureReason> = new Set<FailureReason>(['auth-failed', 'auth-unsuccessful']);

export interface DeliveryErrorDetails {
  readonly reason: FailureReason;
  /** SMTP reply code, when a relay answered. */
  readonly responseCode?: number | undefined;
  /** The relay's reply text (never contains credentials: relays do not echo AUTH payloads). */
  readonly response?: string | undefined;
  /** The SMTP command (redacted) the reply answered, e.g. `RCPT TO`, `AUTH PLAIN`. */
  readonly command?: string | undefined;
  /**
   * The relay refused the session rather than this message (connect failure, TLS failure, 4xx
   * before MAIL, 421 at any point, a throttle reply): the relay is suspended fleet-wide and the
   * route fails over to its next relay (docs/design.md §2, §3).
   */
  readonly sessionRefused?: boolean | undefined;
  /**
   * Recipients the relay refused at RCPT in the transaction that then failed: their refusal
   * stands whatever happened to DATA afterwards (only the accepted ones are in doubt).
   */
  readonly refusedRecipients?: readonly RefusedRecipient[] | undefined;
}

export interface RefusedRecipient {
  readonly address: string;
  readonly responseCode?: number | undefined;
  readonly response?: string | undefined;
}

/** What a delivery failure carries: its reason and, when a relay answered, the reply. */
abstract class DeliveryFailure extends MailrelayError {
  public readonly reason: FailureReason;
  public readonly responseCode: number | undefined;
  public readonly response: string | undefined;
  public readonly command: string | undefined;
  public readonly sessionRefused: boolean;
  public readonly refusedRecipients: readonly RefusedRecipient[] | undefined;
  protected constructor(message: string, details: DeliveryErrorDetails, options?: ErrorOptions) {
    super(message, options);
    this.reason = details.reason;
    this.responseCode = details.responseCode;
    this.response = details.response;
    this.command = details.command;
    this.sessionRefused = details.sessionRefused ?? false;
    this.refusedRecipients = details.refusedRecipients;
  }

  /** The fields to build a copy with (e.g. marked as a session refusal). */
  public get details(): DeliveryErrorDetails {
    return {
      reason: this.reason,
      responseCode: this.responseCode,
      response: this.response,
      command: this.command,
      sessionRefused: this.sessionRefused,
      refusedRecipients: this.refusedRecipients,
    };
  }
}

/** A failure that makes sense to retry later. */
export class TransientDeliveryError extends DeliveryFailure {
  public constructor(message: string, details: DeliveryErrorDetails, options?: ErrorOptions) {
    super(message, details, options);
    this.name = 'TransientDeliveryError';
  }
}

/** A failure that another attempt cannot fix: the message goes to the DLQ with this reason. */
export class PermanentDeliveryError extends DeliveryFailure {
  public constructor(message: string, details: DeliveryErrorDetails, options?: ErrorOptions) {
    super(message, details, options);
    this.name = 'PermanentDeliveryError';
  }
}

export type DeliveryError = TransientDeliveryError | PermanentDeliveryError;

export function isDeliveryError(error: unknown): error is DeliveryError {
  return error instanceof TransientDeliveryError || error instanceof PermanentDeliveryError;
}

export function formatIssues(issues: readonly FieldIssue[]): string {
  return issues.map((issue) => `${issue.path}: ${issue.message}`).join('; ');
}
