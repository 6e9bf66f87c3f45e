import tls from 'node:tls';
import nodemailer from 'nodemailer';
import type { SMTPTransportOptions } from 'nodemailer/lib/smtp-transport';
import { describe, expect, it } from 'vitest';
import { testCerts } from '../../local/certs.js';
import { startSmtpRelay } from '../../local/smtpRelay.js';
import type { RelayAuthMethod, RelayTlsMode, SmtpRelay } from '../../local/smtpRelay.js';
import { relayFixtures } from '../helpers/relayFixtures.js';

const USER = 'alice@acme.example';
const PASS = 'correct horse battery staple';

// Every relay started through relayWith is stopped after its test (test/helpers/relayFixtures.ts).
const { relay: relayWith } = relayFixtures({ users: { [USER]: PASS } });

/** A nodemailer transport that talks to the relay the way the worker would for `mode`. */
function transportFor(relay: SmtpRelay, mode: RelayTlsMode, extra: Partial<SMTPTransportOptions> = {}) {
  return nodemailer.createTransport({
    host: relay.host,
    port: relay.port,
    secure: mode === 'implicit',
    requireTLS: mode === 'starttls',
    ignoreTLS: mode === 'none',
    tls: { ca: testCerts.ca },
    connectionTimeout: 5_000,
    greetingTimeout: 5_000,
    socketTimeout: 5_000,
    ...extra,
  });
}

function authFor(method: RelayAuthMethod, secret = PASS): Partial<SMTPTransportOptions> {
  if (method === 'XOAUTH2') return { auth: { type: 'OAuth2', user: USER, accessToken: secret } };
  return { auth: { user: USER, pass: secret }, authMethod: method };
}

const mail = { from: 'billing@acme.example', to: ['bob@example.net'], subject: 'Receipt', text: 'hello' };

async function sendError(promise: Promise<unknown>): Promise<Error & { code?: string; responseCode?: number }> {
  try {
    await promise;
  } catch (err) {
    return err as Error & { code?: string; responseCode?: number };
  }
  throw new Error('expected the send to fail');
}

describe('startSmtpRelay: authentication per TLS mode', () => {
  const modes: RelayTlsMode[] = ['starttls', 'implicit', 'none'];
  const methods: RelayAuthMethod[] = ['PLAIN', 'LOGIN', 'XOAUTH2'];
  const cases = modes.flatMap((mode) => methods.map((method) => ({ mode, method })));

  it.each(cases)('relays a message with AUTH $method over tls=$mode', async ({ mode, method }) => {
    // Prepare
    const relay = await relayWith({ tls: mode, authMethods: ['PLAIN', 'LOGIN', 'XOAUTH2'] });
    const transport = transportFor(relay, mode, authFor(method));

    // Act
    const info = await transport.sendMail(mail);
    transport.close();

    // Assess
    expect(info.accepted).toEqual(['bob@example.net']);
    expect(relay.messages).toHaveLength(1);
    const [message] = relay.messages;
    expect(message).toMatchObject({
      mailFrom: 'billing@acme.example',
      rcptTo: ['bob@example.net'],
      user: USER,
      authMethod: method,
      secureAtAuth: mode !== 'none',
      secure: mode !== 'none',
      reply: { code: 250 },
    });
    expect(message?.raw.toString()).toContain('Subject: Receipt');
    expect(relay.authAttempts).toEqual([
      expect.objectContaining({ method, username: USER, credentialsValid: true, success: true, replyCode: 235 }),
    ]);
    const expectedVerbs = mode === 'starttls' ? ['EHLO', 'STARTTLS', 'EHLO', 'AUTH', 'MAIL', 'RCPT', 'DATA'] : ['EHLO', 'AUTH', 'MAIL', 'RCPT', 'DATA'];
    expect(relay.sessions[0]?.commands.slice(0, expectedVerbs.length)).toEqual(expectedVerbs);
    expect(relay.connectionCount).toBe(1);
  });
});

describe('startSmtpRelay: TLS requirements', () => {
  it('refuses AUTH before STARTTLS with 538 and records no credential check', async () => {
    // Prepare
    const relay = await relayWith({ tls: 'starttls' });
    const transport = transportFor(relay, 'none', authFor('PLAIN'));

    // Act
    const err = await sendError(transport.sendMail(mail));

    // Assess
    expect(err).toMatchObject({ code: 'EAUTH', responseCode: 538 });
    expect(relay.commands).toContain('AUTH');
    expect(relay.commands).not.toContain('STARTTLS');
    expect(relay.commands).not.toContain('MAIL');
    expect(relay.authAttempts).toEqual([]);
    expect(relay.messages).toEqual([]);
  });

  it('refuses MAIL without TLS even when AUTH is optional', async () => {
    // Prepare
    const relay = await relayWith({ tls: 'starttls', authOptional: true });
    const transport = transportFor(relay, 'none');

    // Act
    const err = await sendError(transport.sendMail(mail));

    // Assess
    expect(err).toMatchObject({ code: 'EENVELOPE', responseCode: 530 });
    expect(relay.commands).toEqual(expect.arrayContaining(['EHLO', 'MAIL']));
    expect(relay.messages).toEqual([]);
  });

  it('accepts unauthenticated mail over STARTTLS when AUTH is optional', async () => {
    // Prepare
    const relay = await relayWith({ tls: 'starttls', authOptional: true });

    // Act
    await transportFor(relay, 'starttls').sendMail(mail);

    // Assess
    expect(relay.messages[0]).toMatchObject({ user: undefined, secureAtAuth: undefined, secure: true });
    expect(relay.commands).not.toContain('AUTH');
  });

  it('shows no AUTH when a client that requires TLS meets a relay without STARTTLS', async () => {
    // Prepare
    const relay = await relayWith({ tls: 'none' });
    const transport = transportFor(relay, 'starttls', authFor('PLAIN'));

    // Act
    const err = await sendError(transport.sendMail(mail));

    // Assess
    expect(err).toMatchObject({ code: 'ETLS', responseCode: 500 });
    expect(relay.commands[0]).toBe('EHLO');
    expect(relay.commands).not.toContain('AUTH');
    expect(relay.commands).not.toContain('MAIL');
    expect(relay.authAttempts).toEqual([]);
  });

  it('hides STARTTLS with advertiseStarttls: false and still refuses AUTH in plaintext', async () => {
    // Prepare
    const relay = await relayWith({ tls: 'starttls', advertiseStarttls: false });
    const transport = transportFor(relay, 'none', { ...authFor('PLAIN'), ignoreTLS: false });

    // Act
    const err = await sendError(transport.sendMail(mail));

    // Assess
    expect(err).toMatchObject({ code: 'EAUTH', responseCode: 538 });
    expect(relay.commands).not.toContain('STARTTLS');
    expect(relay.authAttempts).toEqual([
      expect.objectContaining({ method: 'PLAIN', credentialsValid: true, success: false, replyCode: 538, secure: false }),
    ]);
  });

  it.each(['starttls', 'implicit'] as const)('presents a wrong-host certificate that fails verification for 127.0.0.1 (tls=%s)', async (mode) => {
    // Prepare
    const relay = await relayWith({ tls: mode, cert: 'wrong-host' });
    const transport = transportFor(relay, mode, authFor('PLAIN'));

    // Act
    const err = await sendError(transport.sendMail(mail));

    // Assess
    expect(err).toMatchObject({ code: 'ESOCKET' });
    expect(err.message).toMatch(/does not match certificate's altnames/);
    expect(relay.commands).not.toContain('AUTH');
    expect(relay.authAttempts).toEqual([]);
    expect(relay.messages).toEqual([]);
  });

  it('verifies the server certificate for localhost as well as 127.0.0.1', async () => {
    // Prepare
    const relay = await relayWith({ tls: 'implicit' });
    const transport = transportFor(relay, 'implicit', { ...authFor('PLAIN'), host: 'localhost' });

    // Act
    await transport.sendMail(mail);

    // Assess
    expect(relay.messages).toHaveLength(1);
  });
});

describe('startSmtpRelay: credentials', () => {
  it('rotates a password at runtime', async () => {
    // Prepare
    const relay = await relayWith({ tls: 'implicit' });
    relay.setPassword(USER, 'rotated-password');

    // Act
    const err = await sendError(transportFor(relay, 'implicit', authFor('LOGIN')).sendMail(mail));
    await transportFor(relay, 'implicit', authFor('LOGIN', 'rotated-password')).sendMail(mail);

    // Assess
    expect(err).toMatchObject({ code: 'EAUTH', responseCode: 535 });
    expect(relay.authAttempts.map((a) => [a.credentialsValid, a.replyCode])).toEqual([
      [false, 535],
      [true, 235],
    ]);
    expect(relay.messages).toHaveLength(1);
    expect(JSON.stringify(relay.authAttempts)).not.toContain('rotated-password');
    expect(JSON.stringify(relay.sessions)).not.toContain('rotated-password');
  });

  it('answers a bad XOAUTH2 token with the 334 challenge, then 535 (EAUTH on the nodemailer side)', async () => {
    // Prepare
    const relay = await relayWith({ tls: 'starttls', authMethods: ['XOAUTH2'], xoauth2: (_user, token) => token === 'good-token' });

    // Act
    const err = await sendError(transportFor(relay, 'starttls', authFor('XOAUTH2', 'stale-token')).sendMail(mail));

    // Assess: nodemailer answers the 334 with an empty line, gets 535, retries once with its token
    // (it has no way to renew a static one), and gives up with EAUTH 535
    expect(err).toMatchObject({ code: 'EAUTH', responseCode: 535 });
    expect(relay.authAttempts).toHaveLength(2);
    expect(relay.commands).toEqual(['EHLO', 'STARTTLS', 'EHLO', 'AUTH', 'AUTH']);
    expect(relay.authAttempts.every((a) => a.method === 'XOAUTH2' && !a.credentialsValid)).toBe(true);
    expect(relay.commands).not.toContain('MAIL');
  });

  it('speaks the XOAUTH2 error dialogue on the wire: 334 base64 JSON, then 535', async () => {
    // Prepare
    const relay = await relayWith({ tls: 'implicit', authMethods: ['XOAUTH2'] });
    const socket = tls.connect({ host: relay.host, port: relay.port, ca: testCerts.ca });
    const lines: string[] = [];
    let buffer = '';
    let notify: (() => void) | undefined;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      const parts = buffer.split('\r\n');
      buffer = parts.pop() ?? '';
      lines.push(...parts);
      notify?.();
    });
    const reply = async (): Promise<string> => {
      for (let i = 0; i < 50; i++) {
        const index = lines.findIndex((line) => /^\d{3} /.test(line));
        if (index >= 0) return lines.splice(0, index + 1).join('\n');
        await new Promise<void>((resolve) => {
          notify = resolve;
          setTimeout(resolve, 100);
        });
      }
      throw new Error('no reply');
    };
    const token = Buffer.from(`user=${USER}\x01auth=Bearer wrong\x01\x01`).toString('base64');

    // Act
    const greeting = await reply();
    socket.write('EHLO client.example\r\n');
    const ehlo = await reply();
    socket.write(`AUTH XOAUTH2 ${token}\r\n`);
    const challenge = await reply();
    socket.write('\r\n');
    const final = await reply();
    socket.end('QUIT\r\n');

    // Assess
    expect(greeting).toMatch(/^220 /);
    expect(ehlo).toContain('AUTH XOAUTH2');
    expect(challenge).toMatch(/^334 /);
    expect(JSON.parse(Buffer.from(challenge.slice(4), 'base64').toString())).toMatchObject({ status: '401' });
    expect(final).toMatch(/^535 /);
  });

  it('lets onAuth turn a valid login into a temporary failure', async () => {
    // Prepare
    const relay = await relayWith({ tls: 'implicit', onAuth: () => ({ code: 454, message: '4.7.0 Temporary authentication failure' }) });

    // Act
    const err = await sendError(transportFor(relay, 'implicit', authFor('PLAIN')).sendMail(mail));

    // Assess
    expect(err).toMatchObject({ code: 'EAUTH', responseCode: 454 });
    expect(relay.authAttempts[0]).toMatchObject({ credentialsValid: true, success: false, replyCode: 454 });
  });
});

describe('startSmtpRelay: scripted replies', () => {
  it('rejects one recipient and accepts the other', async () => {
    // Prepare
    const relay = await relayWith({ tls: 'implicit', onRcptTo: (address) => (address.startsWith('gone@') ? { code: 550, message: '5.1.1 No such user' } : undefined) });

    // Act
    const info = await transportFor(relay, 'implicit', authFor('PLAIN')).sendMail({ ...mail, to: ['gone@example.net', 'bob@example.net'] });

    // Assess
    expect(info.rejected).toEqual(['gone@example.net']);
    expect(info.accepted).toEqual(['bob@example.net']);
    expect(relay.messages[0]?.rcptTo).toEqual(['bob@example.net']);
  });

  it('fails the whole send when every recipient is rejected with 4xx', async () => {
    // Prepare
    const relay = await relayWith({ tls: 'implicit', onRcptTo: () => ({ code: 452, message: '4.2.2 Mailbox full' }) });

    // Act
    const err = await sendError(transportFor(relay, 'implicit', authFor('PLAIN')).sendMail(mail));

    // Assess
    expect(err).toMatchObject({ code: 'EENVELOPE', responseCode: 452 });
  });

  it('refuses MAIL FROM with the scripted code', async () => {
    // Prepare
    const relay = await relayWith({ tls: 'implicit', onMailFrom: () => ({ code: 553, message: '5.7.1 Sender not allowed' }) });

    // Act
    const err = await sendError(transportFor(relay, 'implicit', authFor('PLAIN')).sendMail(mail));

    // Assess
    expect(err).toMatchObject({ code: 'EENVELOPE', responseCode: 553 });
    expect(relay.commands).toContain('MAIL');
    expect(relay.messages).toEqual([]);
    expect(relay.rejectedMessages).toEqual([]);
  });

  it.each([451, 550, 554])('answers DATA with %i and records the message as rejected', async (code) => {
    // Prepare
    const relay = await relayWith({ tls: 'implicit', onData: () => ({ code, message: `scripted ${code}` }) });

    // Act
    const err = await sendError(transportFor(relay, 'implicit', authFor('PLAIN')).sendMail(mail));

    // Assess
    expect(err).toMatchObject({ code: 'EMESSAGE', responseCode: code });
    expect(err.message).toContain(`scripted ${code}`);
    expect(relay.messages).toEqual([]);
    expect(relay.rejectedMessages[0]).toMatchObject({ reply: { code, message: `scripted ${code}` }, rcptTo: ['bob@example.net'] });
  });

  it('puts a scripted 250 text in the reply the client sees', async () => {
    // Prepare
    const relay = await relayWith({ tls: 'implicit', onData: (message) => ({ code: 250, message: `OK queued as ${message.raw.length}` }) });

    // Act
    const info = await transportFor(relay, 'implicit', authFor('PLAIN')).sendMail(mail);

    // Assess
    expect(info.response).toMatch(/^250 OK queued as \d+/);
    expect(relay.messages[0]?.reply.message).toMatch(/^OK queued as/);
  });

  it('advertises SIZE and refuses a larger message with 552', async () => {
    // Prepare
    const relay = await relayWith({ tls: 'implicit', size: 2_000 });

    // Act
    const err = await sendError(transportFor(relay, 'implicit', authFor('PLAIN')).sendMail({ ...mail, text: 'x'.repeat(5_000) }));

    // Assess
    expect(err.responseCode).toBe(552);
    expect(relay.messages).toEqual([]);
  });

  it('refuses the connection with a scripted greeting', async () => {
    // Prepare
    const relay = await relayWith({ tls: 'none', onConnect: () => ({ code: 421, message: '4.3.2 Too busy' }) });

    // Act
    const err = await sendError(transportFor(relay, 'none', authFor('PLAIN')).sendMail(mail));

    // Assess
    expect(err.message).toMatch(/421|Too busy/);
    expect(relay.connectionCount).toBe(1);
    expect(relay.commands).not.toContain('AUTH');
  });

  it('offers no AUTH at all with authMethods: []', async () => {
    // Prepare
    const relay = await relayWith({ tls: 'implicit', authMethods: [] });

    // Act
    await transportFor(relay, 'implicit').sendMail(mail);

    // Assess
    expect(relay.messages[0]).toMatchObject({ user: undefined, secure: true });
  });
});

describe('startSmtpRelay: lifecycle and output', () => {
  it('prints a one-line summary of each message and waits for messages', async () => {
    // Prepare
    const lines: string[] = [];
    const relay = await relayWith({ tls: 'implicit', printMessages: (line) => lines.push(line) });

    // Act
    const waiting = relay.waitForMessages(1);
    await transportFor(relay, 'implicit', authFor('PLAIN')).sendMail(mail);
    const received = await waiting;

    // Assess
    expect(received).toHaveLength(1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/250 from=<billing@acme\.example> to=<bob@example\.net> user=alice@acme\.example auth=PLAIN tls=yes bytes=\d+ subject="Receipt"/);
    expect(lines[0]).not.toContain(PASS);
  });

  it('waitForMessages rejects when the count is not reached in time', async () => {
    // Prepare
    const relay = await relayWith({});

    // Act
    const err = await sendError(relay.waitForMessages(1, 50));

    // Assess
    expect(err.message).toMatch(/0 of 1 messages/);
  });

  it('stops with a pooled client still connected and refuses connections afterwards', async () => {
    // Prepare
    const relay = await startSmtpRelay({ tls: 'starttls', users: { [USER]: PASS } });
    const pooled = nodemailer.createTransport({
      pool: true,
      host: relay.host,
      port: relay.port,
      requireTLS: true,
      tls: { ca: testCerts.ca },
      auth: { user: USER, pass: PASS },
    });
    pooled.on('error', () => undefined);
    await pooled.sendMail(mail);

    // Act
    await relay.stop();
    const err = await sendError(transportFor(relay, 'starttls', authFor('PLAIN')).sendMail(mail));
    pooled.close();

    // Assess
    expect(relay.messages).toHaveLength(1);
    expect(relay.sessions[0]?.closed).toBe(true);
    expect(err.message).toMatch(/ECONNREFUSED/);
  });
});
