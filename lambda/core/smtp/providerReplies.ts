/**
 * Replies that name a problem an operator must act on, or a relay that is refusing sessions, get
 * a reason of their own instead of the generic `smtp-transient` / `smtp-permanent`
 * (docs/design.md §3, "named provider replies"). The table is read top to bottom; the first row
 * whose code, enhanced status and text all match wins. Whether the failure is retried follows the
 * row, not only the reply's first digit: Microsoft 365 answers "SMTP AUTH is disabled" with a 535
 * that no retry can fix, while `454 4.7.0 Too many login attempts` is a throttle that clears.
 *
 * docs/fault-handling.md prints this table for operators; keep the two in step.
 */
import type { FailureReason } from '../errors.js';

export interface ProviderReply {
  /** Reply code(s) the row applies to; absent = any. */
  readonly codes?: readonly number[];
  /** RFC 3463 enhanced status code(s) the reply must carry (`5.7.139`); absent = any. */
  readonly enhanced?: readonly string[];
  /** A text the reply must contain (case-insensitive); absent = any. */
  readonly text?: RegExp;
  readonly reason: FailureReason;
  readonly transient: boolean;
  /**
   * The relay refuses the session, not this message: the route is suspended for the whole fleet
   * and the next relay of the list is tried (docs/design.md §2, failover; §3, suspension).
   */
  readonly refusesSession: boolean;
  /** What the operator reads in the log and the DLQ entry. */
  readonly meaning: string;
}

export const PROVIDER_REPLIES: readonly ProviderReply[] = [
  {
    codes: [535, 550, 554],
    text: /SmtpClientAuthentication is disabled/i,
    reason: 'smtp-auth-disabled',
    transient: false,
    refusesSession: false,
    meaning: 'Microsoft 365: SMTP AUTH (client submission) is disabled for the tenant or the mailbox; enable it, or use XOAUTH2 with a mailbox that allows it',
  },
  {
    codes: [535],
    enhanced: ['5.7.139'],
    reason: 'basic-auth-disabled',
    transient: false,
    refusesSession: false,
    meaning: 'Microsoft 365: basic authentication is disabled (or security defaults block it); configure auth.type XOAUTH2',
  },
  {
    codes: [535],
    enhanced: ['5.7.3'],
    reason: 'auth-unsuccessful',
    // Credentials rotate: mail waits for a fixed credential rather than being lost.
    transient: true,
    refusesSession: false,
    meaning: 'Microsoft 365: authentication unsuccessful (wrong password, expired credential, or MFA on the mailbox)',
  },
  {
    codes: [534],
    enhanced: ['5.7.9'],
    reason: 'app-password-required',
    transient: false,
    refusesSession: false,
    meaning: 'Gmail: an application-specific password (or XOAUTH2) is required for this account',
  },
  {
    codes: [534],
    enhanced: ['5.7.14'],
    reason: 'web-login-required',
    transient: false,
    refusesSession: false,
    meaning: 'Gmail: the account must sign in through a web browser first, or use XOAUTH2',
  },
  {
    codes: [550, 554],
    enhanced: ['5.7.60'],
    reason: 'send-as-denied',
    transient: false,
    refusesSession: false,
    meaning: 'Microsoft 365: the authenticated mailbox may not send as this From address (SendAs permission)',
  },
  {
    codes: [550, 554],
    enhanced: ['5.7.708', '5.7.705', '5.7.750'],
    reason: 'tenant-blocked',
    transient: false,
    refusesSession: false,
    meaning: 'Microsoft 365: the tenant is blocked from sending (unregistered domains or suspected compromise)',
  },
  {
    codes: [550, 551, 553],
    enhanced: ['5.1.1', '5.1.10', '5.1.6'],
    reason: 'unknown-recipient',
    transient: false,
    refusesSession: false,
    meaning: 'the recipient address does not exist',
  },
  {
    codes: [550, 553],
    text: /user unknown|no such user|unknown user|mailbox unavailable|recipient not found|does not exist/i,
    reason: 'unknown-recipient',
    transient: false,
    refusesSession: false,
    meaning: 'the recipient address does not exist',
  },
  {
    codes: [452],
    enhanced: ['4.2.2'],
    reason: 'mailbox-full',
    transient: true,
    refusesSession: false,
    meaning: 'the recipient mailbox is over quota (for now)',
  },
  {
    codes: [552],
    enhanced: ['5.2.2'],
    reason: 'mailbox-full',
    transient: false,
    refusesSession: false,
    meaning: 'the recipient mailbox is over quota',
  },
  {
    codes: [550, 554],
    enhanced: ['5.7.1', '5.7.0', '5.7.26', '5.7.27', '5.7.509', '5.7.510'],
    reason: 'policy-refused',
    transient: false,
    refusesSession: false,
    meaning: 'the relay refused the message by policy (relaying denied, spam, SPF/DKIM/DMARC)',
  },
  {
    codes: [421, 450, 451, 454],
    enhanced: ['4.7.0', '4.7.500', '4.7.501', '4.7.502', '4.7.28'],
    reason: 'relay-throttled',
    transient: true,
    refusesSession: true,
    meaning: 'the relay is throttling this sender (too many connections, messages or login attempts)',
  },
  {
    codes: [421, 450, 451, 454],
    text: /too many (connections|sessions|concurrent)/i,
    reason: 'relay-throttled',
    transient: true,
    refusesSession: true,
    meaning: 'the relay has too many connections from this sender (lower limits.maxConnections)',
  },
  {
    codes: [421],
    reason: 'relay-unavailable',
    transient: true,
    refusesSession: true,
    meaning: 'the relay is closing the session (service not available)',
  },
];

/** `535 5.7.139 Authentication unsuccessful` → `5.7.139`. */
export function enhancedStatus(response: string | undefined): string | undefined {
  const match = /^\d{3}[ -]([245]\.\d{1,3}\.\d{1,3})\b/.exec(response?.trim() ?? '') ?? /(?:^|\s)([245]\.\d{1,3}\.\d{1,3})\b/.exec(response ?? '');
  return match?.[1];
}

/**
 * The row of {@link PROVIDER_REPLIES} for a reply, if any.
 * @example
 * matchProviderReply(535, '535 5.7.139 Authentication unsuccessful, basic authentication is disabled')?.reason
 * // → 'basic-auth-disabled'
 */
export function matchProviderReply(code: number | undefined, response: string | undefined): ProviderReply | undefined {
  if (code === undefined) return undefined;
  const status = enhancedStatus(response);
  return PROVIDER_REPLIES.find(
    (row) =>
      (row.codes === undefined || row.codes.includes(code)) &&
      (row.enhanced === undefined || (status !== undefined && row.enhanced.includes(status))) &&
      (row.text === undefined || row.text.test(response ?? '')),
  );
}
