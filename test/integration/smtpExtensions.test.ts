/**
 * Issue 14's findings on 8-bit content and non-ASCII addresses, against a real smtp-server on
 * 127.0.0.1 (STARTTLS, AUTH PLAIN) that offers or hides 8BITMIME and SMTPUTF8: the extension is
 * asked for when the message needs it, and a relay without it is a permanent failure naming it,
 * before MAIL FROM — never a silent 8-bit send.
 */
import { describe, expect, it } from 'vitest';
import { parseQueueMessage } from '../../lambda/core/message/index.js';
import { relayMessage, summarizeRelay } from '../../lambda/core/relay.js';
import type { SmtpRelayOptions } from '../../local/smtpRelay.js';
import { MemoryConfigStore, MemorySecretSource } from '../helpers/memoryPorts.js';
import { relayFixtures } from '../helpers/relayFixtures.js';

// Relays and pools are cleaned up after every test (test/helpers/relayFixtures.ts).
const fixtures = relayFixtures({ users: { u: 'p' } });

/** Relay one queue body to a fresh relay; returns the relay and the result. */
async function send(body: Record<string, unknown>, options: Pick<SmtpRelayOptions, 'hideExtensions'> = {}) {
  const relay = await fixtures.relay(options);
  const pool = fixtures.pool();
  const config = new MemoryConfigStore({
    global: { scope: 'global', relay: { host: '127.0.0.1', port: relay.port, timeoutSeconds: 5 }, auth: { user: 'u', pass: { value: 'p' } } },
  });
  const message = parseQueueMessage(JSON.stringify(body), { fallbackIdempotencyKey: 'sqs-1' });
  const result = await relayMessage(message, { config, secrets: new MemorySecretSource(), pool });
  return { relay, result };
}

const RAW_8BIT = { raw: 'From: billing@acme.example\r\nTo: bob@example.net\r\nSubject: Hi\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße aus Zürich\r\n' };
const UTF8_RECIPIENT = { from: 'billing@acme.example', to: ['jösé@example.net'], subject: 'Hi', text: 'Hello' };

describe('issue 14 findings: 8BITMIME and SMTPUTF8', () => {
  it('finding: 8-bit raw bodies go out without 8BITMIME to relays that do not offer it (now a permanent failure naming 8BITMIME)', async () => {
    const { relay, result } = await send(RAW_8BIT, { hideExtensions: ['8BITMIME'] });

    expect(summarizeRelay(result)).toBe('failed');
    expect(result.recipients[0]).toMatchObject({ address: 'bob@example.net', status: 'failed', reason: 'extension-unavailable' });
    expect(result.recipients[0]!.detail).toMatch(/does not offer 8BITMIME/);
    expect(relay.commands).not.toContain('MAIL');
    expect(relay.messages).toHaveLength(0);
  });

  it('an 8-bit raw body goes with BODY=8BITMIME to a relay that offers it, bytes intact', async () => {
    const { relay, result } = await send(RAW_8BIT);

    expect(summarizeRelay(result)).toBe('delivered');
    expect(relay.messages[0]!.bodyType).toBe('8bitmime');
    expect(relay.messages[0]!.raw.toString('utf8')).toContain('Grüße aus Zürich');
  });

  it('a 7-bit message does not ask for 8BITMIME', async () => {
    const { relay, result } = await send({ from: 'billing@acme.example', to: ['bob@example.net'], subject: 'Grüße', text: 'Grüße aus Zürich' }, { hideExtensions: ['8BITMIME', 'SMTPUTF8'] });

    expect(summarizeRelay(result)).toBe('delivered');
    expect(relay.messages[0]!.bodyType).toBe('7bit');
    expect(relay.messages[0]!.smtpUtf8).toBe(false);
  });

  it('finding: non-ASCII envelope addresses go out without SMTPUTF8 (now a permanent failure naming SMTPUTF8)', async () => {
    const { relay, result } = await send(UTF8_RECIPIENT, { hideExtensions: ['SMTPUTF8'] });

    expect(result.recipients[0]).toMatchObject({ address: 'jösé@example.net', status: 'failed', reason: 'extension-unavailable' });
    expect(result.recipients[0]!.detail).toMatch(/does not offer SMTPUTF8 \(the address jösé@example\.net is not ASCII\)/);
    expect(relay.commands).not.toContain('MAIL');
  });

  it('a non-ASCII recipient goes with SMTPUTF8 to a relay that offers it', async () => {
    const { relay, result } = await send(UTF8_RECIPIENT);

    expect(summarizeRelay(result)).toBe('delivered');
    expect(relay.messages[0]!.smtpUtf8).toBe(true);
    expect(relay.messages[0]!.rcptTo).toEqual(['jösé@example.net']);
  });

  it('a non-ASCII bounce address (envelope.from) needs SMTPUTF8 too', async () => {
    const { result } = await send({ ...UTF8_RECIPIENT, to: ['bob@example.net'], envelope: { from: 'bounces-jösé@acme.example' } }, { hideExtensions: ['SMTPUTF8'] });

    expect(result.recipients[0]).toMatchObject({ status: 'failed', reason: 'extension-unavailable' });
    expect(result.recipients[0]!.detail).toMatch(/SMTPUTF8 \(the address bounces-jösé@acme\.example is not ASCII\)/);
  });
});
