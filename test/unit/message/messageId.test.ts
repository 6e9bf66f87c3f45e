import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { deriveMessageId, isMessageId } from '../../../lambda/core/message/index.js';

describe('isMessageId', () => {
  it.each(['<a@b>', '<invoice.7@acme.example>', "<x!#$%&'*+/=?^_`{|}~-@host.example>", '<id@[192.0.2.1]>'])('accepts %j', (value) => {
    // Act & Assess
    expect(isMessageId(value)).toBe(true);
  });

  it.each([
    ['no brackets', 'a@b'],
    ['no @', '<ab>'],
    ['two @', '<a@b@c>'],
    ['whitespace inside', '<a b@c>'],
    ['surrounding whitespace', ' <a@b> '],
    ['a comment', '<a@b> (c)'],
    ['two ids', '<a@b> <c@d>'],
    ['a leading dot', '<.a@b>'],
    ['non-ASCII', '<ä@b>'],
    ['a CRLF', '<a@b>\r\n'],
    ['too long', `<${'a'.repeat(990)}@b>`],
  ])('refuses %s', (_name, value) => {
    // Act & Assess
    expect(isMessageId(value)).toBe(false);
  });
});

describe('deriveMessageId', () => {
  it('is the SHA-256 of the key at the sender domain, the same every time', () => {
    // Prepare
    const hash = createHash('sha256').update('order-1234-receipt').digest('hex');

    // Act
    const first = deriveMessageId('order-1234-receipt', 'acme.example');
    const second = deriveMessageId('order-1234-receipt', 'acme.example');

    // Assess
    expect(first).toBe(`<${hash}@acme.example>`);
    expect(second).toBe(first);
    expect(isMessageId(first)).toBe(true);
  });

  it('differs by key and by domain, and never contains the key', () => {
    // Act
    const base = deriveMessageId('secret-order-1', 'acme.example');

    // Assess
    expect(deriveMessageId('secret-order-2', 'acme.example')).not.toBe(base);
    expect(deriveMessageId('secret-order-1', 'other.example')).not.toBe(base);
    expect(base).not.toContain('secret');
  });
});
