import { describe, expect, it } from 'vitest';
import { dedupeAddresses, mailboxSchema, parseMailbox, parseMailboxList, parseQueueMessage } from '../../../lambda/core/message/index.js';
import type { MailAddress } from '../../../lambda/core/message/index.js';

describe('parseMailbox', () => {
  it.each<[input: string, expected: MailAddress]>([
    ['bob@example.net', { name: '', address: 'bob@example.net', domain: 'example.net' }],
    ['Bob <bob@example.net>', { name: 'Bob', address: 'bob@example.net', domain: 'example.net' }],
    ['  <bob@Example.NET>  ', { name: '', address: 'bob@example.net', domain: 'example.net' }],
    ['"Smith, Bob" <bob@example.net>', { name: 'Smith, Bob', address: 'bob@example.net', domain: 'example.net' }],
    ['"eve@example.org" <bob@example.net>', { name: 'eve@example.org', address: 'bob@example.net', domain: 'example.net' }],
    ['John Q. Public <john.q@example.net>', { name: 'John Q. Public', address: 'john.q@example.net', domain: 'example.net' }],
    ['bob@example.net (Bob)', { name: 'Bob', address: 'bob@example.net', domain: 'example.net' }],
    ['Bob (work) <bob@example.net>', { name: 'Bob', address: 'bob@example.net', domain: 'example.net' }],
    ['"john doe"@example.net', { name: '', address: '"john doe"@example.net', domain: 'example.net' }],
    ['"a@b"@example.net', { name: '', address: '"a@b"@example.net', domain: 'example.net' }],
    ["o'brien+tag@example.net", { name: '', address: "o'brien+tag@example.net", domain: 'example.net' }],
    ['Bücher <info@bücher.example>', { name: 'Bücher', address: 'info@xn--bcher-kva.example', domain: 'xn--bcher-kva.example' }],
    ['info@ＥＸＡＭＰＬＥ.com', { name: '', address: 'info@example.com', domain: 'example.com' }],
    // Non-ASCII local parts are accepted (RFC 6531) and normalised to NFC.
    ['jo\u0073e\u0301@example.com', { name: '', address: 'jos\u00e9@example.com', domain: 'example.com' }],
    ['用户@例子.广告', { name: '', address: '用户@xn--fsqu00a.xn--4rr70v', domain: 'xn--fsqu00a.xn--4rr70v' }],
  ])('accepts %j', (input, expected) => {
    // Act
    const result = parseMailbox(input);

    // Assess
    expect(result).toEqual({ ok: true, address: expected });
  });

  it.each<[input: string, reason: RegExp]>([
    ['', /must be an email address/],
    ['Bob', /must be an email address/],
    ['<>', /must be an email address/],
    ['bob@example.net, eve@example.org', /exactly one mailbox, not a list/],
    ['bob@example.net; eve@example.org', /exactly one mailbox, not a list/],
    ['bob@example.net eve@example.org', /more than one address/],
    ['x <bob@example.net> <eve@example.org>', /misplaced "<" or ">"/],
    ['eve@example.org <bob@example.net>', /more than one address \(quote a display name/],
    ['friends: bob@example.net;', /not a group/],
    ['<@relay.example:bob@example.net>', /source route/],
    ['foo bar@example.net', /display name goes before <\.\.\.>/],
    ['bob @ example.net', /display name goes before|local@domain/],
    ['a@b@example.net', /more than one "@"/],
    ['bob@example.net>', /misplaced/],
    ['<bob@example.net', /misplaced/],
    ['"unterminated <bob@example.net>', /unterminated quoted string/],
    ['Bob (comment <bob@example.net>', /unterminated comment/],
    ['Bob) <bob@example.net>', /"\)" without "\("/],
    ['Bob\\ <bob@example.net>', /backslash outside a quoted string/],
    ['bob\r\n@example.net', /must not contain CR/],
    ['bob@exa\u0000mple.net', /must not contain NUL/],
    ['Bob\u2029 <bob@example.net>', /must not contain U\+2029/],
    ['@example.net', /local part \(before @\) is empty/],
    ['bob@', /domain \(after @\) is empty/],
    ['.bob@example.net', /dot-atom/],
    ['bob.@example.net', /dot-atom/],
    ['bob..b@example.net', /dot-atom/],
    ['""@example.net', /dot-atom .* or a quoted string/],
    [`${'x'.repeat(65)}@example.net`, /local part must be at most 64 octets/],
    [`${'é'.repeat(33)}@example.net`, /local part must be at most 64 octets/],
    [`bob@${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(60)}.net`, /at most 253 characters|at most 254 octets/],
    ['bob@localhost', /fully qualified/],
    ['bob@example.net.', /domain labels/],
    ['bob@exa_mple.net', /domain may only hold/],
    ['bob@[192.0.2.1]', /address literals/],
    ['bob@[IPv6:2001:db8::1]', /address literals|source route|not a group/],
    ['bob@10.0.0.1', /numeric label/],
    ['bob@0x7f.1', /numeric label|not a valid/],
    ['bob@xn--zz.example', /not a valid \(internationalised\) domain name/],
    ['x'.repeat(999), /at most 998 characters/],
  ])('refuses %j', (input, reason) => {
    // Act
    const result = parseMailbox(input);

    // Assess
    expect(result.ok).toBe(false);
    expect(result.ok ? '' : result.reason).toMatch(reason);
  });
});

describe('parseMailboxList', () => {
  it('reads mailboxes and the members of groups, and skips empty elements', () => {
    // Act
    const result = parseMailboxList(' Bob <bob@example.net>, , team: carol@example.org, "Dave, Jr." <dave@example.com>; undisclosed-recipients:;, eve@example.org');

    // Assess
    expect(result.ok && result.addresses.map((address) => address.address)).toEqual([
      'bob@example.net',
      'carol@example.org',
      'dave@example.com',
      'eve@example.org',
    ]);
  });

  it('keeps a quoted comma or colon in a display name', () => {
    // Act
    const result = parseMailboxList('"Re: Smith, Bob" <bob@example.net>');

    // Assess
    expect(result).toEqual({ ok: true, addresses: [{ name: 'Re: Smith, Bob', address: 'bob@example.net', domain: 'example.net' }] });
  });

  it.each<[input: string, reason: RegExp]>([
    ['bob@example.net, nobody', /^address 2: must be an email address/],
    ['a: b: c@example.net;;', /group inside a group/],
    ['team: bob@example.net', /group without its closing ";"/],
    ['bob@example.net;', /";" outside a group/],
    ['"open, bob@example.net', /unterminated quoted string/],
    ['bob@example.net eve@example.org', /address 1: holds more than one address/],
  ])('refuses %j', (input, reason) => {
    // Act
    const result = parseMailboxList(input);

    // Assess
    expect(result.ok).toBe(false);
    expect(result.ok ? [] : result.reasons).toEqual(expect.arrayContaining([expect.stringMatching(reason)]));
  });

  it('reports every bad address of a list', () => {
    // Act
    const result = parseMailboxList('x, bob@example.net, y@');

    // Assess
    expect(result.ok ? [] : result.reasons).toEqual([expect.stringMatching(/^address 1:/), expect.stringMatching(/^address 3:/)]);
  });
});

describe('dedupeAddresses', () => {
  it('keeps the first of each address in order', () => {
    // Prepare
    const bob = { name: 'Bob', address: 'bob@example.net', domain: 'example.net' };
    const bobAgain = { name: 'Robert', address: 'bob@example.net', domain: 'example.net' };
    const upperBob = { name: '', address: 'Bob@example.net', domain: 'example.net' };
    const eve = { name: '', address: 'eve@example.org', domain: 'example.org' };

    // Act
    const result = dedupeAddresses([bob, eve, bobAgain, upperBob, eve]);

    // Assess
    expect(result).toEqual([bob, eve, upperBob]);
  });
});

describe('mailboxSchema', () => {
  it('parses into a MailAddress and reports the reason as a zod issue', () => {
    // Act
    const good = mailboxSchema.safeParse('Bob <bob@EXAMPLE.net>');
    const bad = mailboxSchema.safeParse('bob');
    const notString = mailboxSchema.safeParse(7);

    // Assess
    expect(good.data).toEqual({ name: 'Bob', address: 'bob@example.net', domain: 'example.net' });
    expect(bad.error?.issues.map((issue) => issue.message)).toEqual(['must be an email address (local@domain)']);
    expect(notString.error?.issues.map((issue) => issue.message)).toEqual(['must be a string']);
  });
});

describe('envelope-safe quoted local parts', () => {
  it.each(['"a<b"@example.net', '"a>b"@example.net', '"a\\\\<b"@example.net'])('refuses %s, which nodemailer cannot put in RCPT TO', (address) => {
    expect(() => parseQueueMessage(JSON.stringify({ from: 'x@acme.example', to: [address], text: 't' }), { fallbackIdempotencyKey: 'k' })).toThrow(/to\[0\]: local part/);
  });
});
