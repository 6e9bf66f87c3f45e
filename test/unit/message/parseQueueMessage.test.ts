import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MessageValidationError } from '../../../lambda/core/errors.js';
import { parseQueueMessage } from '../../../lambda/core/message/index.js';
import type { RawContent, StructuredContent } from '../../../lambda/core/message/index.js';
import { issuesOf, messagesAt, parse, rawBody, SQS_MESSAGE_ID, structuredBody } from './helpers.js';

const sha256 = (value: string) => createHash('sha256').update(value, 'utf8').digest('hex');
const structured = (content: StructuredContent | RawContent) => {
  if (content.kind !== 'structured') throw new Error('expected structured content');
  return content;
};
const rawText = (content: StructuredContent | RawContent) => {
  if (content.kind !== 'raw') throw new Error('expected raw content');
  return content.raw.toString('utf8');
};
const addresses = (list: readonly { address: string }[]) => list.map((entry) => entry.address);

describe('parseQueueMessage: accepted messages', () => {
  it('parses the full structured example of docs/design.md §1', () => {
    // Prepare
    const body = {
      idempotencyKey: 'order-1234-receipt',
      from: 'Acme Billing <billing@acme.example>',
      to: ['bob@example.net'],
      cc: [],
      bcc: [],
      replyTo: 'support@acme.example',
      subject: 'Your receipt',
      text: 'plain body',
      html: '<p>html body</p>',
      headers: { 'X-Campaign': 'q4' },
      attachments: [{ filename: 'r.pdf', contentType: 'application/pdf', content: Buffer.from('%PDF-1.7').toString('base64') }],
      binding: 'acme',
      auth: { type: 'XOAUTH2', user: 'billing@acme.example', pass: { secret: 'mailrelay/acme-m365' } },
      tags: { tenant: 'acme' },
    };

    // Act
    const message = parse(body);

    // Assess
    expect(message).toMatchObject({
      idempotencyKey: 'order-1234-receipt',
      binding: 'acme',
      bindingSource: 'message',
      sender: { name: 'Acme Billing', address: 'billing@acme.example', domain: 'acme.example' },
      envelope: { from: 'billing@acme.example', to: [{ name: '', address: 'bob@example.net', domain: 'example.net' }] },
      messageId: `<${sha256('order-1234-receipt')}@acme.example>`,
      auth: { type: 'XOAUTH2', user: 'billing@acme.example', pass: { secret: 'mailrelay/acme-m365' } },
      tags: { tenant: 'acme' },
    });
    const content = structured(message.content);
    expect(content).toMatchObject({
      kind: 'structured',
      from: { name: 'Acme Billing', address: 'billing@acme.example' },
      to: [{ address: 'bob@example.net' }],
      cc: [],
      bcc: [],
      replyTo: { name: '', address: 'support@acme.example', domain: 'acme.example' },
      subject: 'Your receipt',
      text: 'plain body',
      html: '<p>html body</p>',
      headers: { 'X-Campaign': 'q4' },
    });
    expect(content.attachments).toHaveLength(1);
    expect(content.attachments[0]?.filename).toBe('r.pdf');
    expect(content.attachments[0]?.contentType).toBe('application/pdf');
    expect(content.attachments[0]?.content.toString('utf8')).toBe('%PDF-1.7');
  });

  it('treats null as absent and applies every default', () => {
    // Prepare
    const body = structuredBody({
      idempotencyKey: null,
      cc: null,
      bcc: null,
      replyTo: null,
      subject: null,
      html: null,
      headers: null,
      attachments: null,
      binding: null,
      auth: null,
      tags: { tenant: null },
      raw: null,
      envelope: null,
    });

    // Act
    const message = parse(body);

    // Assess
    expect(message.idempotencyKey).toBe(SQS_MESSAGE_ID);
    expect(message.binding).toBe('acme.example');
    expect(message.bindingSource).toBe('sender-domain');
    expect(message.auth).toBeUndefined();
    expect(message.tags).toEqual({});
    const content = structured(message.content);
    expect(content.cc).toEqual([]);
    expect(content.bcc).toEqual([]);
    expect(content.subject).toBeUndefined();
    expect(content.replyTo).toBeUndefined();
    expect(content.headers).toEqual({});
    expect(content.attachments).toEqual([]);
  });

  it('defaults the binding to the sender domain as a lower-case A-label', () => {
    // Prepare
    const body = structuredBody({ from: 'Bücher <info@Bücher.Example>' });

    // Act
    const message = parse(body);

    // Assess
    expect(message.binding).toBe('xn--bcher-kva.example');
    expect(message.bindingSource).toBe('sender-domain');
    expect(message.sender).toEqual({ name: 'Bücher', address: 'info@xn--bcher-kva.example', domain: 'xn--bcher-kva.example' });
    expect(message.envelope.from).toBe('info@xn--bcher-kva.example');
    expect(message.messageId).toBe(`<${sha256(SQS_MESSAGE_ID)}@xn--bcher-kva.example>`);
  });

  it('lower-cases a binding the message names', () => {
    // Act
    const message = parse(structuredBody({ binding: 'Acme_EU-1.prod' }));

    // Assess
    expect(message.binding).toBe('acme_eu-1.prod');
    expect(message.bindingSource).toBe('message');
  });

  it('de-duplicates recipients across to, cc and bcc, case-insensitively on the domain, keeping order', () => {
    // Prepare
    const body = structuredBody({
      to: ['bob@Example.NET', 'Carol <carol@example.org>', 'Bob@example.net'],
      cc: ['bob@example.net', 'dave@example.com'],
      bcc: ['CAROL <carol@EXAMPLE.org>', 'eve@example.com'],
    });

    // Act
    const message = parse(body);

    // Assess: the local part keeps its case (only the destination may fold it).
    expect(addresses(message.envelope.to)).toEqual([
      'bob@example.net',
      'carol@example.org',
      'Bob@example.net',
      'dave@example.com',
      'eve@example.com',
    ]);
    expect(addresses(structured(message.content).to)).toEqual(['bob@example.net', 'carol@example.org', 'Bob@example.net']);
  });

  it('accepts 1,000 recipients after de-duplication even when more are listed', () => {
    // Prepare
    const thousand = Array.from({ length: 1000 }, (_, index) => `user${index}@example.net`);
    const body = structuredBody({ to: thousand, bcc: thousand.map((address) => address.replace('example.net', 'EXAMPLE.NET')) });

    // Act
    const message = parse(body);

    // Assess
    expect(message.envelope.to).toHaveLength(1000);
  });

  it('accepts a message with only cc or only bcc recipients', () => {
    // Act
    const message = parse(structuredBody({ to: null, bcc: ['hidden@example.net'] }));

    // Assess
    expect(addresses(message.envelope.to)).toEqual(['hidden@example.net']);
    expect(structured(message.content).to).toEqual([]);
  });

  it('lifts a Message-ID given in headers and keeps other custom headers', () => {
    // Prepare
    const body = structuredBody({ headers: { 'message-id': '<invoice-7@acme.example>', 'X-Campaign': 'q4', 'List-Unsubscribe': '<mailto:u@acme.example>' } });

    // Act
    const message = parse(body);

    // Assess
    expect(message.messageId).toBe('<invoice-7@acme.example>');
    expect(structured(message.content).headers).toEqual({ 'X-Campaign': 'q4', 'List-Unsubscribe': '<mailto:u@acme.example>' });
  });

  it('derives the Message-ID deterministically from the idempotency key at the sender domain', () => {
    // Prepare
    const body = structuredBody({ idempotencyKey: 'order-1234-receipt' });

    // Act
    const first = parse(body);
    const second = parse(body);
    const otherDomain = parse({ ...body, from: 'billing@other.example' });
    const otherKey = parse({ ...body, idempotencyKey: 'order-1235-receipt' });

    // Assess
    expect(first.messageId).toBe(`<${sha256('order-1234-receipt')}@acme.example>`);
    expect(second.messageId).toBe(first.messageId);
    expect(otherDomain.messageId).toBe(`<${sha256('order-1234-receipt')}@other.example>`);
    expect(otherKey.messageId).not.toBe(first.messageId);
  });

  it('derives the Message-ID from the fallback key when the body has none', () => {
    // Act
    const first = parseQueueMessage(JSON.stringify(structuredBody()), { fallbackIdempotencyKey: 'sqs-a' });
    const second = parseQueueMessage(JSON.stringify(structuredBody()), { fallbackIdempotencyKey: 'sqs-b' });

    // Assess
    expect(first.idempotencyKey).toBe('sqs-a');
    expect(first.messageId).toBe(`<${sha256('sqs-a')}@acme.example>`);
    expect(second.messageId).not.toBe(first.messageId);
  });

  it('keeps body text exactly, line breaks and all', () => {
    // Prepare
    const text = 'line 1\r\nline 2\n.\nline 4\r.\r\n\ttabbed \u2028 ünïcödé 😀';

    // Act
    const message = parse(structuredBody({ text, html: `<pre>${text}</pre>` }));

    // Assess
    expect(structured(message.content).text).toBe(text);
    expect(structured(message.content).html).toBe(`<pre>${text}</pre>`);
  });

  it('accepts idempotency keys of 256 code points, spaces and non-ASCII included', () => {
    // Prepare
    const key = '😀'.repeat(255) + ' ';

    // Act
    const message = parse(structuredBody({ idempotencyKey: key }));

    // Assess
    expect(message.idempotencyKey).toBe(key);
  });

  it('accepts tag and header names that are also Object.prototype members', () => {
    // Act
    const message = parse(structuredBody({ tags: { constructor: 'x', toString: 'y' }, headers: { 'X-Constructor': 'z' } }));

    // Assess
    expect(message.tags).toEqual({ constructor: 'x', toString: 'y' });
  });

  it('reduces attachment file names to their last path segment and lower-cases content types', () => {
    // Prepare
    const attachments = [
      { filename: 'C:\\Users\\bob\\r.pdf', contentType: 'Application/PDF', content: '' },
      { filename: '../../etc/passwd', content: 'aGVsbG8=' },
    ];

    // Act
    const content = structured(parse(structuredBody({ attachments })).content);

    // Assess
    expect(content.attachments.map((attachment) => attachment.filename)).toEqual(['r.pdf', 'passwd']);
    expect(content.attachments[0]?.contentType).toBe('application/pdf');
    expect(content.attachments[0]?.content).toEqual(Buffer.alloc(0));
    expect(content.attachments[1]).not.toHaveProperty('contentType');
  });

  it('parses a raw message without envelope: envelope from its headers, Bcc removed, Message-ID inserted', () => {
    // Prepare
    const raw = [
      'From: Acme <billing@acme.example>',
      'To: Bob <bob@example.net>, carol@example.org',
      'Cc: team:dave@example.com, bob@EXAMPLE.net;',
      'Bcc: audit@acme.example,',
      ' archive@acme.example',
      'Subject: Hi',
      '',
      'Hello',
      '',
    ].join('\n');

    // Act
    const message = parse({ raw, idempotencyKey: 'k-1' });

    // Assess
    expect(message.sender.address).toBe('billing@acme.example');
    expect(message.envelope.from).toBe('billing@acme.example');
    expect(addresses(message.envelope.to)).toEqual([
      'bob@example.net',
      'carol@example.org',
      'dave@example.com',
      'audit@acme.example',
      'archive@acme.example',
    ]);
    expect(message.binding).toBe('acme.example');
    expect(message.messageId).toBe(`<${sha256('k-1')}@acme.example>`);
    expect(rawText(message.content)).toBe(
      [
        'From: Acme <billing@acme.example>',
        'To: Bob <bob@example.net>, carol@example.org',
        'Cc: team:dave@example.com, bob@EXAMPLE.net;',
        'Subject: Hi',
        `Message-ID: <${sha256('k-1')}@acme.example>`,
        '',
        'Hello',
        '',
      ].join('\r\n'),
    );
  });

  it('parses a raw message with an envelope: the envelope routes, the From header is the sender', () => {
    // Prepare
    const raw = 'From: billing@acme.example\r\nTo: list@acme.example\r\nBcc: hidden@example.net\r\nMessage-ID: <m1@acme.example>\r\n\r\nHello\r\n';

    // Act
    const message = parse({ raw, envelope: { from: 'bounces@mail.acme.example', to: ['bob@example.net', 'BOB@example.net', 'bob@EXAMPLE.net'] } });

    // Assess
    expect(message.sender.address).toBe('billing@acme.example');
    expect(message.binding).toBe('acme.example');
    expect(message.envelope.from).toBe('bounces@mail.acme.example');
    expect(addresses(message.envelope.to)).toEqual(['bob@example.net', 'BOB@example.net']);
    expect(message.messageId).toBe('<m1@acme.example>');
    expect(rawText(message.content)).toBe('From: billing@acme.example\r\nTo: list@acme.example\r\nMessage-ID: <m1@acme.example>\r\n\r\nHello\r\n');
  });

  it('takes the sender from envelope.from when the raw message has no From header', () => {
    // Act
    const message = parse({ raw: 'Subject: x\n\nbody', envelope: { from: 'ops@acme.example', to: ['bob@example.net'] } });

    // Assess
    expect(message.sender.address).toBe('ops@acme.example');
    expect(message.binding).toBe('acme.example');
  });

  it.each([
    ['LF . CRLF', 'From: a@acme.example\r\nTo: b@example.net\r\n\r\nline\n.\r\nMAIL FROM:<x@evil.example>\r\n'],
    ['CRLF . LF', 'From: a@acme.example\r\nTo: b@example.net\r\n\r\nline\r\n.\nMAIL FROM:<x@evil.example>\r\n'],
    ['LF . LF', 'From: a@acme.example\nTo: b@example.net\n\nline\n.\nRCPT TO:<x@evil.example>\n'],
    ['CR . CR', 'From: a@acme.example\r\nTo: b@example.net\r\n\r\nline\r.\rDATA\r\n'],
  ])('normalises raw line endings so %s cannot end DATA early', (_name, raw) => {
    // Act
    const out = rawText(parse({ raw }).content);

    // Assess: every CR is followed by LF and every LF preceded by CR.
    expect(out).not.toMatch(/\r(?!\n)|(?<!\r)\n/);
    expect(out).toContain('line\r\n.\r\n');
  });
});

describe('parseQueueMessage: refused messages name the field and the reason', () => {
  const longLine = `X-Long: ${'a'.repeat(1000)}`;
  const cases: [name: string, body: Record<string, unknown> | string, path: string, reason: RegExp][] = [
    // The whole body
    ['not JSON', '{"from": ', '$', /not valid JSON/],
    ['a JSON array', '[{"from": "a@acme.example"}]', '$', /must be a JSON object, not an array/],
    ['a JSON string', '"hello"', '$', /must be a JSON object, not a string/],
    ['JSON null', 'null', '$', /must be a JSON object, not null/],
    ['an empty body', '  ', '$', /is empty/],
    ['a body over 1 MiB', JSON.stringify(structuredBody({ text: 'x'.repeat(1_048_576) })), '$', /at most 1 MiB \(1,048,576 bytes\)/],
    ['deep nesting', `{"tags":${'['.repeat(5000)}${']'.repeat(5000)}}`, '$', /must not nest deeper than 16 levels/],
    ['a lone surrogate', '{"from":"a@acme.example","to":["b@example.net"],"subject":"\\ud800"}', 'subject', /well-formed Unicode/],
    ['a __proto__ field', '{"from":"a@acme.example","to":["b@example.net"],"__proto__":{"binding":"x"}}', '__proto__', /reserved name/],
    ['an unknown field', structuredBody({ priority: 'high' }), 'priority', /^unknown field$/],
    // idempotencyKey
    ['an empty idempotencyKey', structuredBody({ idempotencyKey: '' }), 'idempotencyKey', /must not be empty/],
    ['a long idempotencyKey', structuredBody({ idempotencyKey: 'k'.repeat(257) }), 'idempotencyKey', /at most 256 characters/],
    ['a TAB in idempotencyKey', structuredBody({ idempotencyKey: 'a\tb' }), 'idempotencyKey', /printable.*TAB/],
    ['a C1 control in idempotencyKey', structuredBody({ idempotencyKey: 'a\u0085b' }), 'idempotencyKey', /printable.*NEL/],
    ['a numeric idempotencyKey', structuredBody({ idempotencyKey: 42 }), 'idempotencyKey', /must be a string/],
    // Content mode
    ['no from', structuredBody({ from: undefined }), 'from', /is required/],
    ['no recipients', structuredBody({ to: [] }), 'to', /at least one recipient in to, cc or bcc/],
    ['too many recipients', structuredBody({ to: Array.from({ length: 1001 }, (_, index) => `u${index}@example.net`) }), '$', /at most 1,000 recipients.*has 1,001/],
    ['envelope.to without raw', structuredBody({ envelope: { to: ['b@example.net'] } }), 'envelope.to', /only allowed with raw/],
    ['from beside raw', rawBody({ from: 'a@acme.example' }), 'from', /not allowed with raw/],
    ['subject beside raw', rawBody({ subject: 'x' }), 'subject', /not allowed with raw/],
    ['an empty cc beside raw', rawBody({ cc: [] }), 'cc', /not allowed with raw/],
    // Addresses
    ['from without address', structuredBody({ from: 'Acme Billing' }), 'from', /must be an email address/],
    ['from without @', structuredBody({ from: 'billing.acme.example' }), 'from', /must be an email address \(local@domain\)/],
    ['from as a group', structuredBody({ from: 'billing: a@acme.example;' }), 'from', /not a group/],
    ['two mailboxes with a comma', structuredBody({ to: ['bob@example.net, eve@example.org'] }), 'to[0]', /exactly one mailbox/],
    ['two mailboxes with a space', structuredBody({ to: ['ok@example.net', 'bob@example.net eve@example.org'] }), 'to[1]', /more than one address/],
    ['a display name holding another address', structuredBody({ cc: ['eve@example.org <bob@example.net>'] }), 'cc[0]', /more than one address.*quote/],
    ['a CRLF in a display name', structuredBody({ from: 'Acme\r\nBcc: eve@example.org <a@acme.example>' }), 'from', /must not contain CR/],
    ['a dotless domain', structuredBody({ bcc: ['a@example.net', 'b@example.net', 'root@localhost'] }), 'bcc[2]', /fully qualified/],
    ['a domain label starting with -', structuredBody({ to: ['bob@-example.net'] }), 'to[0]', /domain labels must be/],
    ['an address literal', structuredBody({ to: ['bob@[192.0.2.1]'] }), 'to[0]', /address literals/],
    ['an IP address domain', structuredBody({ to: ['bob@192.0.2.1'] }), 'to[0]', /numeric label/],
    ['a percent-encoded domain', structuredBody({ to: ['bob@ex%61mple.net'] }), 'to[0]', /domain may only hold/],
    ['a bad local part', structuredBody({ to: ['bob..smith@example.net'] }), 'to[0]', /local part must be a dot-atom/],
    ['a local part over 64 octets', structuredBody({ to: [`${'b'.repeat(65)}@example.net`] }), 'to[0]', /at most 64 octets/],
    ['a non-string recipient', structuredBody({ to: [42] }), 'to[0]', /must be a string/],
    ['a null recipient', structuredBody({ to: ['bob@example.net', null] }), 'to[1]', /must be a string/],
    ['to as a string', structuredBody({ to: 'bob@example.net' }), 'to', /must be an array of addresses/],
    ['a bad replyTo', structuredBody({ replyTo: 'support' }), 'replyTo', /must be an email address/],
    // Header-safe strings
    ['an LF in subject', structuredBody({ subject: 'Hi\nBcc: eve@example.org' }), 'subject', /must not contain LF/],
    ['U+2028 in subject', structuredBody({ subject: 'Hi\u2028there' }), 'subject', /must not contain U\+2028/],
    ['a subject too long', structuredBody({ subject: 's'.repeat(999) }), 'subject', /at most 998 characters/],
    ['NUL in text', structuredBody({ text: 'a\0b' }), 'text', /must not contain NUL/],
    ['NUL in html', structuredBody({ html: '<p>\0</p>' }), 'html', /must not contain NUL/],
    ['a CR in a header value', structuredBody({ headers: { 'X-Foo': 'a\rb' } }), 'headers.X-Foo', /must not contain CR/],
    ['a space in a header name', structuredBody({ headers: { 'X Foo': 'a' } }), 'headers.X Foo', /RFC 5322 field name/],
    ['a non-ASCII header name', structuredBody({ headers: { 'X-Grüße': 'a' } }), 'headers.X-Grüße', /RFC 5322 field name/],
    ['a non-string header value', structuredBody({ headers: { 'X-Count': 3 } }), 'headers.X-Count', /must be a string/],
    ['headers as an array', structuredBody({ headers: ['X-Foo: a'] }), 'headers', /must be an object mapping header names/],
    ['an invalid Message-ID', structuredBody({ headers: { 'Message-ID': 'abc@acme.example' } }), 'headers.Message-ID', /<id@domain>/],
    ['Message-ID twice', structuredBody({ headers: { 'Message-ID': '<a@acme.example>', 'message-id': '<b@acme.example>' } }), 'headers.message-id', /more than once/],
    ['an LF in a tag value', structuredBody({ tags: { tenant: 'acme\nlevel=error' } }), 'tags.tenant', /must not contain LF/],
    ['a DEL in a tag name', structuredBody({ tags: { 'ten\u007fant': 'acme' } }), 'tags.ten\\u{7F}ant', /name must not contain DEL/],
    ['too many tags', structuredBody({ tags: Object.fromEntries(Array.from({ length: 51 }, (_, index) => [`t${index}`, 'v'])) }), 'tags', /at most 50 entries/],
    // binding
    ['a binding with a space', structuredBody({ binding: 'acme eu' }), 'binding', /letters, digits/],
    ['a binding too long', structuredBody({ binding: 'b'.repeat(129) }), 'binding', /1-128/],
    // auth
    ['an auth password value', structuredBody({ auth: { pass: { value: 'hunter2' } } }), 'auth.pass', /may not carry "value" or "env"/],
    ['an auth env keysource', structuredBody({ auth: { pass: { env: 'SMTP_PASS' } } }), 'auth.pass', /may not carry "value" or "env"/],
    ['an LF in auth.user', structuredBody({ auth: { user: 'a\nb' } }), 'auth.user', /must not contain LF/],
    ['a CR in auth.key', structuredBody({ auth: { key: 'a\rb' } }), 'auth.key', /must not contain CR/],
    ['an unknown auth type', structuredBody({ auth: { type: 'CRAM-MD5' } }), 'auth.type', /PLAIN, LOGIN, XOAUTH2 or NONE/],
    ['an unknown auth field', structuredBody({ auth: { password: 'x' } }), 'auth.password', /^unknown field$/],
    // attachments
    ['unpadded base64', structuredBody({ attachments: [{ filename: 'a.txt', content: 'aGVsbG8' }] }), 'attachments[0].content', /padded/],
    ['base64 with spaces', structuredBody({ attachments: [{ filename: 'a.txt', content: 'aGVs bG8=' }] }), 'attachments[0].content', /found a space/],
    ['missing content', structuredBody({ attachments: [{ filename: 'a.txt' }] }), 'attachments[0].content', /is required/],
    ['an unknown attachment field', structuredBody({ attachments: [{ filename: 'a.txt', content: '', size: 0 }] }), 'attachments[0].size', /^unknown field$/],
    ['a directory as file name', structuredBody({ attachments: [{ filename: 'reports/', content: '' }] }), 'attachments[0].filename', /must name a file/],
    ['.. as file name', structuredBody({ attachments: [{ filename: 'a/..', content: '' }] }), 'attachments[0].filename', /not "\." or "\.\."/],
    ['an LF in a file name', structuredBody({ attachments: [{ filename: 'a\n.txt', content: '' }] }), 'attachments[0].filename', /must not contain LF/],
    ['a content type without subtype', structuredBody({ attachments: [{ filename: 'a', contentType: 'application', content: '' }] }), 'attachments[0].contentType', /type\/subtype/],
    ['a content type with a malformed parameter', structuredBody({ attachments: [{ filename: 'a', contentType: 'text/plain; charset', content: '' }] }), 'attachments[0].contentType', /malformed parameter/],
    ['a multipart content type', structuredBody({ attachments: [{ filename: 'a', contentType: 'Multipart/Mixed', content: '' }] }), 'attachments[0].contentType', /must not be multipart/],
    ['an attachment that is a string', structuredBody({ attachments: ['aGVsbG8='] }), 'attachments[0]', /must be an object \{ filename/],
    // raw
    ['an empty raw', { raw: '' }, 'raw', /must not be empty/],
    ['NUL in raw', rawBody({ raw: 'From: a@acme.example\nTo: b@example.net\n\nx\0y' }), 'raw', /must not contain NUL/],
    ['raw without header/body separator', { raw: 'From: a@acme.example\r\nTo: b@example.net\r\n' }, 'raw', /no blank line between the header fields and the body/],
    ['raw with a line that is no field', { raw: 'From: a@acme.example\nTo b@example.net\n\nx' }, 'raw', /header line 2 is not a header field/],
    ['raw with an mbox From_ line', { raw: 'From a@acme.example Mon Jan 1 00:00:00 2024\nFrom: a@acme.example\nTo: b@example.net\n\nx' }, 'raw', /header line 1 is not a header field/],
    ['raw starting with a continuation', { raw: ' folded\nFrom: a@acme.example\nTo: b@example.net\n\nx' }, 'raw', /header line 1 starts with whitespace/],
    ['raw with a whitespace-only header line', { raw: 'From: a@acme.example\n \nTo: b@example.net\n\nx' }, 'raw', /header line 2 holds only whitespace/],
    ['raw with a header line over 998 octets', { raw: `From: a@acme.example\nTo: b@example.net\n${longLine}\n\nx` }, 'raw', /header line 3 is longer than 998 octets/],
    ['raw with a control character in a header', { raw: 'From: a@acme.example\nTo: b@example.net\nSubject: a\u0007b\n\nx' }, 'raw', /header line 3 contains control character U\+0007/],
    ['raw without From or envelope.from', { raw: 'To: b@example.net\n\nx' }, 'raw', /no From header field.*envelope\.from/],
    ['raw with two From mailboxes', { raw: 'From: a@acme.example, c@acme.example\nTo: b@example.net\n\nx' }, 'raw', /From header: must hold exactly one mailbox/],
    ['raw with two From fields', { raw: 'From: a@acme.example\nFrom: c@acme.example\nTo: b@example.net\n\nx' }, 'raw', /has 2 From header fields/],
    ['raw with a bad To address', { raw: 'From: a@acme.example\nTo: b@example.net, nobody\n\nx' }, 'raw', /To header: address 2: must be an email address/],
    ['raw with a bad Message-ID', { raw: 'From: a@acme.example\nTo: b@example.net\nMessage-ID: none\n\nx' }, 'raw', /Message-ID header must be one <id@domain>/],
    ['raw without recipients', { raw: 'From: a@acme.example\nTo: undisclosed-recipients:;\n\nx' }, 'raw', /no recipients in To, Cc or Bcc/],
    ['an empty envelope.to', { raw: 'From: a@acme.example\n\nx', envelope: { to: [] } }, 'envelope.to', /must not be empty/],
    ['a bad envelope.from', { raw: 'From: a@acme.example\n\nx', envelope: { from: 'bounces' } }, 'envelope.from', /must be an email address/],
    ['a bad envelope.to element', { raw: 'From: a@acme.example\n\nx', envelope: { to: ['b@example.net', 'c@'] } }, 'envelope.to[1]', /domain \(after @\) is empty/],
    ['an unknown envelope field', { raw: 'From: a@acme.example\n\nx', envelope: { to: ['b@example.net'], cc: [] } }, 'envelope.cc', /^unknown field$/],
    ['too many raw recipients', { raw: 'From: a@acme.example\n\nx', envelope: { to: Array.from({ length: 1001 }, (_, index) => `u${index}@example.net`) } }, 'envelope.to', /at most 1,000 recipients/],
  ];

  it.each(cases)('refuses %s', (_name, body, path, reason) => {
    // Act
    const issues = issuesOf(body);

    // Assess
    expect(messagesAt(issues, path), JSON.stringify(issues)).toEqual(expect.arrayContaining([expect.stringMatching(reason)]));
  });

  it.each(['From', 'to', 'CC', 'Bcc', 'Sender', 'Reply-To', 'Subject', 'Date', 'MIME-Version', 'Content-Type', 'content-transfer-encoding', 'Return-Path', 'Received', 'Resent-From', 'DKIM-Signature'])(
    'refuses the worker-owned header %s',
    (name) => {
      // Act
      const issues = issuesOf(structuredBody({ headers: { [name]: 'x' } }));

      // Assess
      expect(messagesAt(issues, `headers.${name}`)).toEqual([expect.stringMatching(/is set by the worker/)]);
    },
  );

  it('reports every issue of a body at once', () => {
    // Prepare
    const body = {
      idempotencyKey: '',
      from: 'nobody',
      to: ['bob@example.net', 'eve@'],
      subject: 'a\nb',
      headers: { Subject: 'x', 'X-Ok': 'fine' },
      attachments: [{ filename: 'a.txt', content: '!!' }],
      binding: 'no spaces please',
      envelope: { cc: [] },
      colour: 'blue',
    };

    // Act
    const issues = issuesOf(body);

    // Assess
    expect(issues.map((issue) => issue.path).sort()).toEqual(
      ['attachments[0].content', 'binding', 'colour', 'envelope.cc', 'from', 'headers.Subject', 'idempotencyKey', 'subject', 'to[1]'].sort(),
    );
  });

  it('lists a bounded number of issues and counts the rest', () => {
    // Prepare: a 1 MiB body can hold hundreds of thousands of bad elements.
    const body = structuredBody({ to: Array.from({ length: 10_000 }, () => 'nobody'), cc: Array.from({ length: 60 }, (_, index) => `x${index}`) });

    // Act
    const issues = issuesOf(body);

    // Assess
    expect(messagesAt(issues, 'to[0]')).toEqual(['must be an email address (local@domain)']);
    expect(messagesAt(issues, 'to[49]')).toHaveLength(1);
    expect(messagesAt(issues, 'to[50]')).toEqual([]);
    expect(messagesAt(issues, 'to')).toEqual(['has 9950 more invalid addresses, not listed']);
    expect(messagesAt(issues, 'cc[48]')).toHaveLength(1);
    // 51 issues for to, 51 for cc: the last two give way to the count.
    expect(issues).toHaveLength(101);
    expect(issues.at(-1)).toEqual({ path: '$', message: 'has 2 more issues, not listed' });
  });

  it('refuses more than 100 custom headers with one issue', () => {
    // Act
    const issues = issuesOf(structuredBody({ headers: Object.fromEntries(Array.from({ length: 101 }, (_, index) => [`X-H${index}`, 'v'])) }));

    // Assess
    expect(issues).toEqual([{ path: 'headers', message: 'must have at most 100 entries (has 101)' }]);
  });

  it('writes unsafe characters in reported paths as escapes', () => {
    // Act
    const issues = issuesOf(structuredBody({ 'evil\r\nlevel': 1, headers: { 'X-\u2028': 'a' } }));

    // Assess
    expect(issues.map((issue) => issue.path)).toEqual(expect.arrayContaining(['evil\\u{D}\\u{A}level', 'headers.X-\\u{2028}']));
    for (const issue of issues) expect(issue.path).not.toMatch(/[\r\n\u2028]/);
  });

  it('throws a MessageValidationError whose message names path and reason', () => {
    // Act & Assess
    expect(() => parse(structuredBody({ to: ['bob@example.net', 'x'] }))).toThrowError(MessageValidationError);
    expect(() => parse(structuredBody({ to: ['bob@example.net', 'x'] }))).toThrowError(/invalid message: to\[1\]: must be an email address/);
  });
});
