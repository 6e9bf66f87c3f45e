/**
 * The message-format findings of issue 14's review, each reproduced by a test named after it
 * (the SMTP ones, 8BITMIME and SMTPUTF8, are in test/integration/smtpExtensions.test.ts).
 */
import { simpleParser } from 'mailparser';
import { describe, expect, it } from 'vitest';
import type { RawContent, StructuredContent } from '../../../lambda/core/message/index.js';
import { composeMessage } from '../../../lambda/core/smtp/compose.js';
import { issuesOf, messagesAt, parse, structuredBody } from './helpers.js';

const rawText = (content: StructuredContent | RawContent): string => {
  if (content.kind !== 'raw') throw new Error('expected raw content');
  return content.raw.toString('utf8');
};
const maxLineOctets = (bytes: Buffer): number => Math.max(...bytes.toString('utf8').split('\r\n').map((line) => Buffer.byteLength(line)));

describe('issue 14 findings: message format', () => {
  it('finding: raw messages keep Resent-Bcc (now removed, folded lines too, like Bcc)', () => {
    // Prepare
    const raw = [
      'From: billing@acme.example',
      'To: bob@example.net',
      'Resent-From: ops@acme.example',
      'Resent-To: carol@example.net',
      'Resent-Bcc: hidden@example.org,',
      '  also-hidden@example.org',
      'Bcc: audit@acme.example',
      'Subject: Hi',
      '',
      'Hello',
    ].join('\r\n');

    // Act
    const sent = rawText(parse({ raw }).content);

    // Assess
    expect(sent).not.toMatch(/hidden@example\.org|audit@acme\.example|^Resent-Bcc|^Bcc/im);
    expect(sent).toContain('Resent-To: carol@example.net\r\n');
  });

  it.each(['Authentication-Results', 'ARC-Seal', 'arc-message-signature', 'ARC-Authentication-Results', 'Received-SPF', 'Delivered-To', 'X-MS-Exchange-Organization-SCL', 'X-MS-Exchange-Organization-AuthAs'])(
    'finding: custom headers may forge trusted-path fields: %s is refused',
    (name) => {
      const issues = issuesOf(structuredBody({ headers: { [name]: 'pass' } }));
      expect(messagesAt(issues, `headers.${name}`)).toEqual([expect.stringMatching(/added by the receiving servers/)]);
    },
  );

  it.each(['DKIM-Signature', 'Resent-Sender', 'Return-Path', 'Received'])('custom headers may not set the owned field %s', (name) => {
    const issues = issuesOf(structuredBody({ headers: { [name]: 'x' } }));
    expect(messagesAt(issues, `headers.${name}`)).toEqual([expect.stringMatching(/set by the worker/)]);
  });

  it.each([
    ['U+202E', 'invoice\u202Efdp.exe', /U\+202E \(RIGHT-TO-LEFT OVERRIDE\).*extension/],
    ['U+202A', 'a\u202Ab.pdf', /U\+202A \(LEFT-TO-RIGHT EMBEDDING\)/],
    ['U+2066', 'report\u2066.pdf\u2069.exe', /U\+2066 \(LEFT-TO-RIGHT ISOLATE\)/],
    ['U+2069', 'report.pdf\u2069.exe', /U\+2069 \(POP DIRECTIONAL ISOLATE\)/],
    ['U+200E', 'report\u200E.pdf', /U\+200E/],
    ['U+FEFF', '\uFEFFreport.pdf', /U\+FEFF/],
  ])('finding: a filename may hold %s to fake its extension (now refused naming the field)', (_name, filename, reason) => {
    const issues = issuesOf(structuredBody({ attachments: [{ filename, content: 'eA==' }] }));
    expect(messagesAt(issues, 'attachments[0].filename')).toEqual([expect.stringMatching(reason)]);
  });

  it('finding: raw lines of 200,000 octets pass (now refused naming the line number)', () => {
    // Prepare: header lines 1-3, the blank line 4, body lines 5 and 6.
    const raw = `From: billing@acme.example\r\nTo: bob@example.net\r\nSubject: Hi\r\n\r\nshort\r\n${'x'.repeat(200_000)}\r\n`;

    // Act
    const issues = issuesOf({ raw });

    // Assess
    expect(messagesAt(issues, 'raw')).toEqual([expect.stringMatching(/^line 6 is longer than 998 octets \(200,000\)/)]);
  });

  it('raw lines are measured in octets: 998 octets pass, 999 (333 three-octet characters) do not', () => {
    const head = 'From: billing@acme.example\r\nTo: bob@example.net\r\n\r\n';
    expect(() => parse({ raw: `${head}${'x'.repeat(998)}\r\n` })).not.toThrow();
    expect(messagesAt(issuesOf({ raw: `${head}${'€'.repeat(333)}\r\n` }), 'raw')).toEqual([expect.stringMatching(/^line 4 is longer than 998 octets \(999\)/)]);
  });

  it('many long raw lines: the first five are named, the rest counted', () => {
    const raw = `From: billing@acme.example\r\nTo: bob@example.net\r\n\r\n${`${'y'.repeat(1000)}\r\n`.repeat(8)}`;
    const reasons = messagesAt(issuesOf({ raw }), 'raw');
    expect(reasons).toHaveLength(6);
    expect(reasons[0]).toMatch(/^line 4 /);
    expect(reasons[5]).toBe('has 3 more lines longer than 998 octets, not listed');
  });

  it('finding: a custom header over 998 characters is refused instead of folded (now folded at whitespace)', async () => {
    // Prepare: 3,000 characters of words.
    const value = Array.from({ length: 500 }, (_, index) => `tag${index}`).join(' ').slice(0, 3_000);
    const message = parse(structuredBody({ headers: { 'X-Tags': value } }));

    // Act
    const bytes = await composeMessage(message, new Date(0));

    // Assess: every line fits, and a receiver unfolds the value back.
    expect(value.length).toBeGreaterThan(998);
    expect(maxLineOctets(bytes)).toBeLessThanOrEqual(998);
    const mail = await simpleParser(bytes);
    expect(mail.headers.get('x-tags')).toBe(value);
  });

  it('a long non-ASCII header value is encoded and folded too', async () => {
    const value = 'Grüße aus Zürich '.repeat(200).trim();
    const bytes = await composeMessage(parse(structuredBody({ headers: { 'X-Greeting': value } })), new Date(0));
    expect(maxLineOctets(bytes)).toBeLessThanOrEqual(998);
    // mailparser leaves unknown fields encoded: decode the RFC 2047 Q words (adjacent words join).
    const encoded = String((await simpleParser(bytes)).headers.get('x-greeting'));
    const bytesOf = (word: string) => Buffer.from(word.replace(/_/g, ' ').replace(/=([0-9A-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))), 'latin1');
    const words = [...encoded.matchAll(/=\?UTF-8\?Q\?([^?]*)\?=/g)].map((m) => bytesOf(m[1]!));
    expect(encoded.replace(/=\?UTF-8\?Q\?[^?]*\?=/g, '').trim()).toBe('');
    expect(Buffer.concat(words).toString('utf8')).toBe(value);
  });

  it('only a word that cannot fit a 998-octet line is an error', () => {
    // A 997-character word fits after the folding space; 998 does not.
    expect(() => parse(structuredBody({ headers: { 'X-Token': `a ${'t'.repeat(997)}` } }))).not.toThrow();
    const issues = issuesOf(structuredBody({ headers: { 'X-Token': `a ${'t'.repeat(998)} b` } }));
    expect(messagesAt(issues, 'headers.X-Token')).toEqual([expect.stringMatching(/has a word of 998 characters .* cannot be folded into a line of 998 octets/)]);
  });

  it('a header value still has a bound: 16,384 characters', () => {
    const issues = issuesOf(structuredBody({ headers: { 'X-Big': 'ab '.repeat(6_000) } }));
    expect(messagesAt(issues, 'headers.X-Big')).toEqual(['must be at most 16384 characters']);
  });
});
