/**
 * Named provider replies (docs/design.md §3): replies that need an operator get their own reason,
 * permanent or transient as the reply means; throttles and 421 refuse the session (suspend + fail over).
 */
import { describe, expect, it } from 'vitest';
import { PermanentDeliveryError, TransientDeliveryError } from '../../../lambda/core/errors.js';
import { classifySmtpError } from '../../../lambda/core/smtp/classify.js';
import { enhancedStatus } from '../../../lambda/core/smtp/providerReplies.js';

const cases: [string, number, string, 'transient' | 'permanent', string, boolean][] = [
  ['Microsoft 365 basic auth disabled', 535, '535 5.7.139 Authentication unsuccessful, basic authentication is disabled.', 'permanent', 'basic-auth-disabled', false],
  ['Microsoft 365 SMTP AUTH disabled', 535, '535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.', 'permanent', 'smtp-auth-disabled', false],
  ['Microsoft 365 authentication unsuccessful', 535, '535 5.7.3 Authentication unsuccessful', 'transient', 'auth-unsuccessful', false],
  ['Microsoft 365 SendAs denied', 550, '550 5.7.60 SMTP; Client does not have permissions to send as this sender', 'permanent', 'send-as-denied', false],
  ['Microsoft 365 tenant blocked', 550, '550 5.7.708 Service unavailable. Access denied, traffic not accepted from this IP', 'permanent', 'tenant-blocked', false],
  ['Gmail application-specific password', 534, '534-5.7.9 Application-specific password required.', 'permanent', 'app-password-required', false],
  ['Gmail web login required', 534, '534-5.7.14 Please log in via your web browser', 'permanent', 'web-login-required', false],
  ['unknown user (enhanced code)', 550, '550 5.1.1 The email account that you tried to reach does not exist', 'permanent', 'unknown-recipient', false],
  ['unknown user (text only)', 550, '550 Requested action not taken: mailbox unavailable', 'permanent', 'unknown-recipient', false],
  ['policy refusal', 554, '554 5.7.1 Message rejected as spam', 'permanent', 'policy-refused', false],
  ['mailbox full, for now', 452, '452 4.2.2 Mailbox full', 'transient', 'mailbox-full', false],
  ['Microsoft 365 throttle', 451, '451 4.7.500 Server busy. Please try again later', 'transient', 'relay-throttled', true],
  ['too many login attempts', 454, '454 4.7.0 Too many login attempts, please try again later.', 'transient', 'relay-throttled', true],
  ['421 at any point', 421, '421 4.3.2 Service not available, closing channel', 'transient', 'relay-unavailable', true],
  ['a plain 451 stays generic', 451, '451 4.3.0 Temporary failure', 'transient', 'smtp-transient', false],
  ['a plain 550 stays generic', 550, '550 5.6.0 Content refused', 'permanent', 'smtp-permanent', false],
  ['a generic 535 stays an auth failure', 535, '535 5.7.8 Authentication credentials invalid', 'transient', 'auth-failed', false],
];

describe('named provider replies', () => {
  it.each(cases)('%s: %i → %s %s', (_name, code, response, kind, reason, refusesSession) => {
    const atAuth = code === 534 || code === 535 || code === 454;
    const error = classifySmtpError({ code: atAuth ? 'EAUTH' : 'EENVELOPE', responseCode: code, response, command: atAuth ? 'AUTH PLAIN' : 'RCPT TO' });
    expect(error).toBeInstanceOf(kind === 'transient' ? TransientDeliveryError : PermanentDeliveryError);
    expect(error.reason).toBe(reason);
    expect(error.sessionRefused).toBe(refusesSession);
    expect(error.response).toBe(response);
  });

  it('reads the enhanced status code after the reply code, with a space or a dash', () => {
    expect(enhancedStatus('535 5.7.139 Authentication unsuccessful')).toBe('5.7.139');
    expect(enhancedStatus('534-5.7.9 Application-specific password required')).toBe('5.7.9');
    expect(enhancedStatus('250 OK')).toBeUndefined();
  });
});
