import { describe, expect, it } from 'vitest';
import { PermanentDeliveryError, TransientDeliveryError } from '../../../lambda/core/errors.js';
import { classifySmtpError } from '../../../lambda/core/smtp/classify.js';

describe('classifySmtpError', () => {
  it.each([
    [{ code: 'EENVELOPE', responseCode: 451, response: '451 4.3.0 later', command: 'RCPT TO' }, TransientDeliveryError, 'smtp-transient'],
    [{ code: 'EMESSAGE', responseCode: 554, response: '554 5.7.1 spam', command: 'DATA' }, PermanentDeliveryError, 'policy-refused'],
    [{ code: 'EMESSAGE', responseCode: 554, response: '554 5.6.0 bad content', command: 'DATA' }, PermanentDeliveryError, 'smtp-permanent'],
    [{ code: 'EAUTH', responseCode: 535, response: '535 5.7.8 bad', command: 'AUTH PLAIN' }, TransientDeliveryError, 'auth-failed'],
    [{ code: 'EENVELOPE', responseCode: 530, response: '530 5.7.0 Authentication required', command: 'MAIL FROM' }, TransientDeliveryError, 'auth-failed'],
    [{ code: 'EAUTH', message: 'Missing credentials for "PLAIN"', command: 'API' }, PermanentDeliveryError, 'config-error'],
    [{ code: 'EENVELOPE', message: 'Invalid recipient "x"', command: 'API' }, PermanentDeliveryError, 'invalid-message'],
    [{ code: 'ETIMEDOUT', message: 'Greeting never received', command: 'CONN' }, TransientDeliveryError, 'timeout'],
    [{ code: 'ESOCKET', message: 'read ECONNRESET', command: 'CONN' }, TransientDeliveryError, 'connection'],
    [{ code: 'EMESSAGE', message: 'Message size larger than allowed 1000', command: 'MAIL FROM' }, PermanentDeliveryError, 'message-too-large'],
    [new Error('something nobody expected'), TransientDeliveryError, 'connection'],
  ])('%j → %s (%s)', (error, type, reason) => {
    const classified = classifySmtpError(error);
    expect(classified).toBeInstanceOf(type);
    expect(classified.reason).toBe(reason);
  });
});
