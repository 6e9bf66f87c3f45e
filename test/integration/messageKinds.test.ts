/**
 * Each kind of message a transactional sender writes (issue 20), taken from the examples the
 * docs show (examples/messages/*.json), validated as the worker does, relayed to a real
 * smtp-server on 127.0.0.1 with STARTTLS and AUTH, and parsed with mailparser as a receiver would.
 */
import { readFileSync } from 'node:fs';
import { simpleParser, type ParsedMail } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseQueueMessage } from '../../lambda/core/message/index.js';
import { relayMessage, summarizeRelay, type RelayDependencies } from '../../lambda/core/relay.js';
import { SmtpPool } from '../../lambda/core/smtp/pool.js';
import { testCerts } from '../../local/certs.js';
import { startSmtpRelay, type ReceivedMessage, type SmtpRelay } from '../../local/smtpRelay.js';
import { MemoryConfigStore, MemorySecretSource } from '../helpers/memoryPorts.js';

let relay: SmtpRelay;
let pool: SmtpPool;
let deps: RelayDependencies;

beforeAll(async () => {
  relay = await startSmtpRelay({ users: { 'billing@acme.example': 's3cret-pw' } });
  pool = new SmtpPool({ ca: testCerts.ca });
  const config = new MemoryConfigStore({
    global: {
      scope: 'global',
      relay: { host: '127.0.0.1', port: relay.port, tls: 'starttls', timeoutSeconds: 5 },
      auth: { type: 'PLAIN', user: 'billing@acme.example', pass: { value: 's3cret-pw' } },
    },
  });
  deps = { config, secrets: new MemorySecretSource(), pool };
});

afterAll(async () => {
  pool.closeIdle();
  await relay.stop();
});

/** An example file as the producer would enqueue it. */
function example(name: string): string {
  return readFileSync(new URL(`../../examples/messages/${name}`, import.meta.url), 'utf8');
}

/** Validate, relay and return what the relay received, with mailparser's reading of it. */
async function relayExample(name: string): Promise<{ received: ReceivedMessage; mail: ParsedMail }> {
  relay.clear();
  const message = parseQueueMessage(example(name), { fallbackIdempotencyKey: 'sqs-1' });
  const result = await relayMessage(message, deps);
  expect(summarizeRelay(result)).toBe('delivered');
  const received = relay.messages[0]!;
  return { received, mail: await simpleParser(received.raw) };
}

/** The MIME tree of a raw message: each part's Content-Type line, indented by depth. */
function mimeOutline(raw: Buffer): string[] {
  const lines = raw.toString('utf8').split('\r\n');
  const boundaries: string[] = [];
  const outline: string[] = [];
  let inHeader = true;
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!;
    if (inHeader && line === '') inHeader = false;
    else if (inHeader && /^content-type:/i.test(line)) {
      let value = line.slice('content-type:'.length).trim();
      while (/^[ \t]/.test(lines[index + 1] ?? '')) value += ` ${lines[++index]!.trim()}`;
      outline.push(`${'  '.repeat(boundaries.length)}${value.split(';')[0]!.toLowerCase()}`);
      const boundary = /boundary="?([^";]+)"?/i.exec(value)?.[1];
      if (boundary) boundaries.push(boundary);
    } else if (boundaries.some((b) => line === `--${b}`)) inHeader = true;
    else if (boundaries.length > 0 && line === `--${boundaries.at(-1)!}--`) boundaries.pop();
  }
  return outline;
}

describe('message kinds, relayed and parsed', () => {
  it('an inline image is a multipart/related part with the Content-ID the HTML references', async () => {
    const { mail, received } = await relayExample('inline-image.json');

    expect(mimeOutline(received.raw)).toEqual([
      'multipart/alternative',
      '  text/plain',
      '  multipart/related',
      '    text/html',
      '    image/png',
    ]);
    const logo = mail.attachments.find((a) => a.filename === 'logo.png')!;
    expect(logo).toMatchObject({ contentType: 'image/png', contentDisposition: 'inline', cid: 'logo@acme.example', related: true });
    expect(logo.headers.get('content-id')).toBe('<logo@acme.example>');
    expect(logo.content.subarray(1, 4).toString('latin1')).toBe('PNG');
    // The HTML as sent references the part by its Content-ID.
    expect(received.raw.toString('utf8')).toContain('<img src="cid:logo@acme.example" alt="Acme">');
  });

  it('a CSV attachment keeps its charset parameter', async () => {
    const { mail, received } = await relayExample('csv-report.json');

    const csv = mail.attachments.find((a) => a.filename === 'report.csv')!;
    expect(csv.contentType).toBe('text/csv');
    expect(csv.headers.get('content-type')).toMatchObject({ value: 'text/csv', params: { charset: 'utf-8', name: 'report.csv' } });
    expect(csv.contentDisposition).toBe('attachment');
    expect(csv.content.toString('utf8')).toBe('name,city\r\nJosé,Zürich\r\n');
    expect(received.raw.toString('utf8')).toMatch(/^Content-Type: text\/csv; charset=utf-8; name=report\.csv$/m);
  });

  it('a calendar invite is an alternative body part with method=REQUEST, and an attachment', async () => {
    const { mail, received } = await relayExample('calendar-invite.json');

    expect(mimeOutline(received.raw)).toEqual(['multipart/mixed', '  multipart/alternative', '    text/plain', '    text/calendar', '  application/ics']);
    expect(received.raw.toString('utf8')).toMatch(/^Content-Type: text\/calendar; charset=utf-8; method=REQUEST$/m);
    const invite = mail.attachments.find((a) => a.contentType === 'text/calendar')!;
    expect(invite.headers.get('content-type')).toMatchObject({ params: { method: 'REQUEST' } });
    expect(invite.contentDisposition).toBeUndefined();
    const file = mail.attachments.find((a) => a.filename === 'invite.ics')!;
    expect(file).toMatchObject({ contentType: 'application/ics', contentDisposition: 'attachment' });
    expect(file.content.toString('utf8')).toContain('\r\nMETHOD:REQUEST\r\n');
    expect(file.content.equals(invite.content)).toBe(true);
    expect(mail.text?.trim()).toBe('You are invited to the quarterly review on 10 December, 15:00 UTC.');
  });

  it('envelope.from is the MAIL FROM (bounce address) while From: is unchanged', async () => {
    const { mail, received } = await relayExample('bounce-address.json');

    expect(received.mailFrom).toBe('bounces+bob=example.net@mail.acme.example');
    expect(received.rcptTo).toEqual(['bob@example.net']);
    expect(mail.from?.value).toEqual([{ name: 'Acme Billing', address: 'billing@acme.example' }]);
    expect(received.raw.toString('utf8')).not.toMatch(/^Return-Path:/im);
  });

  it('listUnsubscribe writes List-Unsubscribe (https first, then mailto) and List-Unsubscribe-Post: List-Unsubscribe=One-Click', async () => {
    const { mail } = await relayExample('unsubscribe.json');

    const lineOf = (key: string) => mail.headerLines.find((h) => h.key === key)?.line.replace(/\r\n[ \t]+/g, ' ');
    expect(lineOf('list-unsubscribe-post')).toBe('List-Unsubscribe-Post: List-Unsubscribe=One-Click');
    const line = lineOf('list-unsubscribe');
    expect(line).toBe('List-Unsubscribe: <https://acme.example/unsubscribe?u=bob%40example.net&sig=3f1c9e>, <mailto:unsubscribe@acme.example?subject=unsubscribe>');
    expect(mail.headerLines.filter((h) => h.key.startsWith('list-unsubscribe'))).toHaveLength(2);
  });
});
