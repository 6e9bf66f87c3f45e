/**
 * Issue 20's message fields: attachment `cid`, `disposition` and content-type parameters, the
 * calendar invite, `envelope.from` beside structured content and `listUnsubscribe`. What is
 * accepted and how it is normalised; each bad form refused at its field path.
 */
import { describe, expect, it } from 'vitest';
import { parseContentType } from '../../../lambda/core/message/contentType.js';
import type { RawContent, StructuredContent } from '../../../lambda/core/message/index.js';
import { issuesOf, messagesAt, parse, rawBody, structuredBody } from './helpers.js';

const structured = (content: StructuredContent | RawContent): StructuredContent => {
  if (content.kind !== 'structured') throw new Error('expected structured content');
  return content;
};
const b64 = (text: string) => Buffer.from(text).toString('base64');
const ICS = (method: string) => b64(`BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:${method}\r\nBEGIN:VEVENT\r\nUID:1@acme.example\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n`);
const png = { filename: 'logo.png', contentType: 'image/png', content: 'iVBORw0KGgo=' };

describe('content types with RFC 2045 parameters', () => {
  it.each([
    ['text/csv; charset=utf-8', 'text/csv; charset=utf-8'],
    ['Text/CSV;Charset="UTF-8"', 'text/csv; charset=UTF-8'],
    ['text/plain; format=flowed; delsp=yes', 'text/plain; format=flowed; delsp=yes'],
    ['application/x-thing; title="Q4 report; final"', 'application/x-thing; title="Q4 report; final"'],
    ['application/x-thing; note="say \\"hi\\""', 'application/x-thing; note="say \\"hi\\""'],
    ['text/calendar; method=request', 'text/calendar; method=REQUEST'],
  ])('%s is normalised to %s', (input, value) => {
    expect(parseContentType(input)).toEqual({ ok: true, contentType: expect.objectContaining({ value }) });
  });

  it.each([
    ['text/csv; charset=utf-8\r\nBcc: x@example.org', /must not contain CR/],
    ['text/csv; charset=utf-8\n', /must not contain LF/],
    ['text/csv; charset', /malformed parameter/],
    ['text/csv; charset=utf 8', /"8" where a parameter should start with ";"/],
    ['text/csv charset=utf-8', /"charset=utf-8" where a parameter should start/],
    ['text/csv; charset=utf-8; charset=latin1', /charset is given more than once/],
    ['text/csv; title*=utf-8\'\'r%C3%A9', /RFC 2231/],
    ['text/csv; name=evil.exe', /comes from filename/],
    ['text/csv; title="Grüße"', /must be ASCII/],
    ['multipart/mixed; boundary=x', /must not be multipart/],
    ['text', /type\/subtype/],
    [`text/csv; x="${'a'.repeat(300)}"`, /at most 255 characters/],
    [`text/csv${'; a=b'.repeat(9)}`, /given more than once/],
    [`text/csv${Array.from({ length: 9 }, (_, i) => `; p${i}=v`).join('')}`, /at most 8 parameters/],
    ['text/calendar; method=INVITE', /iTIP method/],
    ['text/calendar; method=REQUEST; charset=latin1', /charset must be utf-8/],
  ])('%j is refused: %s', (input, reason) => {
    const result = parseContentType(input);
    expect(result.ok).toBe(false);
    expect(result.ok ? [] : result.reasons).toEqual(expect.arrayContaining([expect.stringMatching(reason)]));
  });
});

describe('attachments: cid, disposition, the calendar invite', () => {
  it('an attachment with a cid is inline; others default to attachment; parameters are kept', () => {
    const content = structured(
      parse(
        structuredBody({
          html: '<img src="cid:logo@acme.example">',
          attachments: [
            { ...png, cid: 'logo@acme.example' },
            { filename: 'r.csv', contentType: 'text/csv; charset=utf-8', content: b64('a,b') },
            { filename: 'sig.png', contentType: 'image/png', content: 'iVBORw0KGgo=', disposition: 'inline' },
          ],
        }),
      ).content,
    );
    expect(content.attachments.map(({ filename, contentType, cid, disposition }) => ({ filename, contentType, cid, disposition }))).toEqual([
      { filename: 'logo.png', contentType: 'image/png', cid: 'logo@acme.example', disposition: 'inline' },
      { filename: 'r.csv', contentType: 'text/csv; charset=utf-8', cid: undefined, disposition: 'attachment' },
      { filename: 'sig.png', contentType: 'image/png', cid: undefined, disposition: 'inline' },
    ]);
  });

  it('a text/calendar attachment with a method is the invite; one without is an ordinary attachment', () => {
    const content = structured(
      parse(
        structuredBody({
          attachments: [
            { filename: 'invite.ics', contentType: 'text/calendar; method=request', content: ICS('REQUEST') },
            { filename: 'holidays.ics', contentType: 'text/calendar', content: ICS('PUBLISH') },
          ],
        }),
      ).content,
    );
    expect(content.attachments[0]).toMatchObject({ contentType: 'text/calendar; method=REQUEST', calendarMethod: 'REQUEST', disposition: 'attachment' });
    expect(content.attachments[1]!.calendarMethod).toBeUndefined();
  });

  it.each([
    ['a cid with "<"', [{ ...png, cid: '<logo@acme.example>' }], 'attachments[0].cid', /without "<" and ">"/],
    ['a cid with a space', [{ ...png, cid: 'my logo' }], 'attachments[0].cid', /must be a Content-ID/],
    ['a cid with a control character', [{ ...png, cid: 'logo\u0001' }], 'attachments[0].cid', /must not contain control character U\+0001/],
    ['a cid with two "@"', [{ ...png, cid: 'a@b@c' }], 'attachments[0].cid', /at most one "@"/],
    ['an empty cid', [{ ...png, cid: '' }], 'attachments[0].cid', /must not be empty/],
    ['a duplicate cid (case-insensitive)', [{ ...png, cid: 'logo' }, { ...png, cid: 'LOGO' }], 'attachments[1].cid', /unique within the message: attachments\[0\]/],
    ['a cid with disposition attachment', [{ ...png, cid: 'logo', disposition: 'attachment' }], 'attachments[0].disposition', /must be "inline"/],
    ['an unknown disposition', [{ ...png, disposition: 'form-data' }], 'attachments[0].disposition', /"attachment" or "inline"/],
    ['a parameter with CR', [{ ...png, contentType: 'image/png; x=1\r\nX-Evil: 1' }], 'attachments[0].contentType', /must not contain CR/],
    ['a multipart content type', [{ ...png, contentType: 'multipart/related; type=text/html' }], 'attachments[0].contentType', /must not be multipart/],
    ['an invite whose METHOD differs', [{ filename: 'i.ics', contentType: 'text/calendar; method=CANCEL', content: ICS('REQUEST') }], 'attachments[0].content', /METHOD:REQUEST but the content type says method=CANCEL/],
    ['an invite without METHOD', [{ filename: 'i.ics', contentType: 'text/calendar; method=REQUEST', content: b64('BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n') }], 'attachments[0].content', /must hold a METHOD:REQUEST property/],
    ['an inline invite', [{ filename: 'i.ics', contentType: 'text/calendar; method=REQUEST', content: ICS('REQUEST'), disposition: 'inline' }], 'attachments[0].disposition', /calendar invite/],
    ['an invite with a cid', [{ filename: 'i.ics', contentType: 'text/calendar; method=REQUEST', content: ICS('REQUEST'), cid: 'cal' }], 'attachments[0].cid', /not allowed on a calendar invite/],
    [
      'two invites',
      [
        { filename: 'a.ics', contentType: 'text/calendar; method=REQUEST', content: ICS('REQUEST') },
        { filename: 'b.ics', contentType: 'text/calendar; method=CANCEL', content: ICS('CANCEL') },
      ],
      'attachments[1].contentType',
      /one calendar invite.*attachments\[0\]/,
    ],
  ])('refuses %s', (_name, attachments, path, reason) => {
    const issues = issuesOf(structuredBody({ attachments }));
    expect(messagesAt(issues, path)).toEqual([expect.stringMatching(reason)]);
  });
});

describe('envelope.from beside structured content', () => {
  it('sets MAIL FROM; the author, the binding and the From header stay', () => {
    const message = parse(structuredBody({ envelope: { from: 'bounces+bob=example.net@Mail.Acme.Example' } }));
    expect(message.envelope.from).toBe('bounces+bob=example.net@mail.acme.example');
    expect(message.sender.address).toBe('billing@acme.example');
    expect(message.binding).toBe('acme.example');
    expect(structured(message.content).from.address).toBe('billing@acme.example');
  });

  it('without envelope.from, MAIL FROM is the author', () => {
    expect(parse(structuredBody({ envelope: {} })).envelope.from).toBe('billing@acme.example');
  });

  it.each([
    ['envelope.to beside structured content', structuredBody({ envelope: { from: 'b@acme.example', to: ['bob@example.net'] } }), 'envelope.to', /only allowed with raw/],
    ['a bad envelope.from', structuredBody({ envelope: { from: 'bounces' } }), 'envelope.from', /must be an email address/],
    ['an envelope.from with a CR', structuredBody({ envelope: { from: 'b@acme.example\r\nRCPT TO:<x@example.org>' } }), 'envelope.from', /must not contain CR/],
    ['an envelope.from list', structuredBody({ envelope: { from: 'a@acme.example, b@acme.example' } }), 'envelope.from', /exactly one mailbox/],
    ['an envelope that is not an object', structuredBody({ envelope: 'b@acme.example' }), 'envelope', /must be an object/],
  ])('refuses %s', (_name, body, path, reason) => {
    expect(messagesAt(issuesOf(body), path)).toEqual([expect.stringMatching(reason)]);
  });
});

describe('listUnsubscribe', () => {
  it('keeps the https URL exactly as given and makes mailto a mailto: URL', () => {
    const content = structured(parse(structuredBody({ listUnsubscribe: { url: 'https://acme.example/u?t=AbC%2F&sig=1', mailto: 'unsub@acme.example' } })).content);
    expect(content.listUnsubscribe).toEqual({ url: 'https://acme.example/u?t=AbC%2F&sig=1', mailto: 'mailto:unsub@acme.example' });
    const withQuery = structured(parse(structuredBody({ listUnsubscribe: { url: 'https://acme.example/u', mailto: 'mailto:unsub@acme.example?subject=stop' } })).content);
    expect(withQuery.listUnsubscribe).toEqual({ url: 'https://acme.example/u', mailto: 'mailto:unsub@acme.example?subject=stop' });
  });

  it('a hand-written List-Unsubscribe header stays allowed without listUnsubscribe', () => {
    const headers = { 'List-Unsubscribe': '<https://acme.example/u>', 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' };
    expect(structured(parse(structuredBody({ headers })).content).headers).toEqual(headers);
  });

  it.each([
    ['an http: URL', { url: 'http://acme.example/u' }, 'listUnsubscribe.url', /https:\/\/ URL/],
    ['a javascript: URL', { url: 'javascript:alert(1)' }, 'listUnsubscribe.url', /https:\/\/ URL/],
    ['a URL with a space', { url: 'https://acme.example/u x' }, 'listUnsubscribe.url', /whitespace/],
    ['a URL with ">"', { url: 'https://acme.example/u>, <https://evil.example' }, 'listUnsubscribe.url', /whitespace, "<", ">"/],
    ['a URL with credentials', { url: 'https://user:pw@acme.example/u' }, 'listUnsubscribe.url', /user name or password/],
    ['a URL with CR', { url: 'https://acme.example/u\r\nBcc: x@example.org' }, 'listUnsubscribe.url', /must not contain CR/],
    ['not a URL', { url: 'https://' }, 'listUnsubscribe.url', /must be a URL/],
    ['a missing url', { mailto: 'unsub@acme.example' }, 'listUnsubscribe.url', /is required/],
    ['a bad mailto', { url: 'https://acme.example/u', mailto: 'mailto:unsub' }, 'listUnsubscribe.mailto', /address or a mailto: URL/],
    ['a mailto with a display name', { url: 'https://acme.example/u', mailto: 'Unsub <unsub@acme.example>' }, 'listUnsubscribe.mailto', /whitespace|bare address/],
    ['an unknown field', { url: 'https://acme.example/u', post: true }, 'listUnsubscribe.post', /unknown field/],
  ])('refuses %s', (_name, listUnsubscribe, path, reason) => {
    expect(messagesAt(issuesOf(structuredBody({ listUnsubscribe })), path)).toEqual([expect.stringMatching(reason)]);
  });

  it.each(['List-Unsubscribe', 'list-unsubscribe-post'])('refuses headers.%s together with listUnsubscribe, naming both', (name) => {
    const issues = issuesOf(structuredBody({ listUnsubscribe: { url: 'https://acme.example/u' }, headers: { [name]: 'x' } }));
    expect(messagesAt(issues, `headers.${name}`)).toEqual([expect.stringMatching(/together with listUnsubscribe/)]);
  });

  it('is not allowed with raw', () => {
    expect(messagesAt(issuesOf(rawBody({ listUnsubscribe: { url: 'https://acme.example/u' } })), 'listUnsubscribe')).toEqual([expect.stringMatching(/not allowed with raw/)]);
  });
});
