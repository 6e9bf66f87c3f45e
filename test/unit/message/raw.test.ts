import { describe, expect, it } from 'vitest';
import { assembleRawMessage, normaliseLineEndings, parseRawMessage, splitRawMessage } from '../../../lambda/core/message/index.js';
import type { MailAddress, ParsedRawMessage } from '../../../lambda/core/message/index.js';

const mailbox = (address: string): MailAddress => ({ name: '', address, domain: address.split('@')[1] ?? '' });
const parsed = (text: string, envelope = {}): ParsedRawMessage => {
  const result = parseRawMessage(text, envelope);
  if (!result.ok) throw new Error(result.reasons.join('; '));
  return result.message;
};
const reasonsOf = (text: string, envelope = {}): readonly string[] => {
  const result = parseRawMessage(text, envelope);
  return result.ok ? [] : result.reasons;
};

describe('normaliseLineEndings', () => {
  it.each([
    ['a\nb', 'a\r\nb'],
    ['a\r\nb', 'a\r\nb'],
    ['a\rb', 'a\r\nb'],
    ['a\n.\r\nb', 'a\r\n.\r\nb'],
    ['a\r\n.\nb', 'a\r\n.\r\nb'],
    ['a\r\r\nb', 'a\r\n\r\nb'],
    ['a\n\rb', 'a\r\n\r\nb'],
    ['\n\n', '\r\n\r\n'],
  ])('turns %j into %j', (input, expected) => {
    // Act & Assess
    expect(normaliseLineEndings(input)).toBe(expected);
  });
});

describe('splitRawMessage', () => {
  it('unfolds folded fields and keeps their physical lines', () => {
    // Act
    const result = splitRawMessage('Subject: a\r\n  long\r\n\tsubject\r\nX-A:b\r\n\r\nbody\r\n\r\nmore');

    // Assess
    expect(result).toEqual({
      ok: true,
      parts: {
        fields: [
          { name: 'Subject', lines: ['Subject: a', '  long', '\tsubject'], value: ' a  long\tsubject' },
          { name: 'X-A', lines: ['X-A:b'], value: 'b' },
        ],
        lineCount: 4,
        body: 'body\r\n\r\nmore',
      },
    });
  });

  it('accepts an empty header section and an empty body', () => {
    // Act & Assess
    expect(splitRawMessage('\r\nbody')).toEqual({ ok: true, parts: { fields: [], lineCount: 0, body: 'body' } });
    expect(splitRawMessage('A: b\r\n\r\n')).toEqual({ ok: true, parts: { fields: [{ name: 'A', lines: ['A: b'], value: ' b' }], lineCount: 1, body: '' } });
  });

  it('reports every malformed header line', () => {
    // Act
    const result = splitRawMessage('From: a@acme.example\r\nbroken\r\n \r\nX-Ctl: \u0001\r\nName : value\r\n\r\nbody');

    // Assess
    expect(result.ok ? [] : result.reasons).toEqual([
      'header line 2 is not a header field ("Name: value")',
      'header line 3 holds only whitespace (some readers take it for the end of the header)',
      'header line 4 contains control character U+0001',
      'header line 5 is not a header field ("Name: value")',
    ]);
  });
});

describe('parseRawMessage', () => {
  it('takes the envelope from From, To, Cc and Bcc and removes Bcc with its continuation lines', () => {
    // Act
    const message = parsed('From: a@acme.example\r\nBCC: x@example.net,\r\n y@example.net\r\nTo: b@example.net\r\nCc: c@example.net\r\n\r\nbody');

    // Assess
    expect(message.sender.address).toBe('a@acme.example');
    expect(message.envelopeFrom.address).toBe('a@acme.example');
    expect(message.recipients.map((recipient) => recipient.address)).toEqual(['x@example.net', 'y@example.net', 'b@example.net', 'c@example.net']);
    expect(message.recipientsFrom).toBe('headers');
    expect(message.headerLines).toEqual(['From: a@acme.example', 'To: b@example.net', 'Cc: c@example.net']);
    expect(message.messageId).toBeUndefined();
  });

  it('prefers the envelope and does not read To/Cc/Bcc then, but still removes Bcc', () => {
    // Act
    const message = parsed('From: a@acme.example\r\nTo: not an address\r\nBcc: hidden@example.net\r\n\r\nbody', {
      from: mailbox('bounce@acme.example'),
      to: [mailbox('r@example.net')],
    });

    // Assess
    expect(message.sender.address).toBe('a@acme.example');
    expect(message.envelopeFrom.address).toBe('bounce@acme.example');
    expect(message.recipients.map((recipient) => recipient.address)).toEqual(['r@example.net']);
    expect(message.recipientsFrom).toBe('envelope');
    expect(message.headerLines).toEqual(['From: a@acme.example', 'To: not an address']);
  });

  it('keeps the message\'s own Message-ID', () => {
    // Act
    const message = parsed('From: a@acme.example\r\nTo: b@example.net\r\nMessage-Id:  <m-1@acme.example> \r\n\r\nbody');

    // Assess
    expect(message.messageId).toBe('<m-1@acme.example>');
  });

  it('reports every problem with the routing headers', () => {
    // Act
    const reasons = reasonsOf('From: a@acme.example\r\nFrom: b@acme.example\r\nTo: x\r\nCc: c@\r\nMessage-ID: nope\r\n\r\nbody');

    // Assess
    expect(reasons).toEqual([
      'has 2 From header fields (RFC 5322 allows one)',
      'To header: address 1: must be an email address (local@domain)',
      'Cc header: address 1: domain (after @) is empty',
      expect.stringMatching(/^Message-ID header must be one <id@domain>/),
    ]);
  });

  it('needs a From header or envelope.from', () => {
    // Act & Assess
    expect(reasonsOf('To: b@example.net\r\n\r\nbody')).toEqual(['has no From header field: add one, or give envelope.from']);
    expect(parsed('To: b@example.net\r\n\r\nbody', { from: mailbox('e@acme.example') }).sender.address).toBe('e@acme.example');
  });

  it('refuses a raw message without a header/body separator', () => {
    // Act & Assess
    expect(reasonsOf('From: a@acme.example\nTo: b@example.net')).toEqual(['has no blank line between the header fields and the body']);
  });
});

describe('assembleRawMessage', () => {
  it('appends the Message-ID to the header section when asked, CRLF throughout', () => {
    // Prepare
    const message = parsed('From: a@acme.example\nTo: b@example.net\n\nline 1\n.\nline 3\n');

    // Act
    const bytes = assembleRawMessage(message, '<id@acme.example>');

    // Assess
    expect(bytes.toString('utf8')).toBe('From: a@acme.example\r\nTo: b@example.net\r\nMessage-ID: <id@acme.example>\r\n\r\nline 1\r\n.\r\nline 3\r\n');
  });

  it('leaves the header section alone otherwise and keeps UTF-8 intact', () => {
    // Prepare
    const message = parsed('From: Jörg <j@acme.example>\r\nTo: b@example.net\r\nMessage-ID: <x@y>\r\n\r\nGrüße');

    // Act
    const bytes = assembleRawMessage(message);

    // Assess
    expect(bytes.equals(Buffer.from('From: Jörg <j@acme.example>\r\nTo: b@example.net\r\nMessage-ID: <x@y>\r\n\r\nGrüße', 'utf8'))).toBe(true);
  });
});
