/**
 * The CLI's pure parts: argument splitting, the SMTP transcript's redaction, the worker log
 * lines, config placeholders and local file validation.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { splitCommand } from '../../cli/args.js';
import { renderTranscript } from '../../cli/check/transcript.js';
import { formatWorkerRecord } from '../../cli/output/workerLog.js';
import { fillPlaceholders, relayPlaceholders } from '../../cli/placeholders.js';
import { maskInlineValues } from '../../cli/redact.js';
import { LocalFileError, readSecretsFile, startLocalStack } from '../../local/start.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const dir = mkdtempSync(join(tmpdir(), 'mailrelay-units-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('splitCommand', () => {
  it('finds the command words around global options with values', () => {
    expect(splitCommand(['--local', '--state-file', 'x.json', 'config', 'put', 'items.json', '--json'])).toEqual({
      words: ['config', 'put'],
      rest: ['--local', '--state-file', 'x.json', 'items.json', '--json'],
    });
    expect(splitCommand(['enqueue', 'a.json', 'b.json'])).toEqual({ words: ['enqueue'], rest: ['a.json', 'b.json'] });
    expect(splitCommand(['--region=eu-west-1', 'dlq', 'list'])).toEqual({ words: ['dlq', 'list'], rest: ['--region=eu-west-1'] });
  });
});

describe('renderTranscript', () => {
  it('shows AUTH PLAIN as mechanism and user, never the password', () => {
    // Prepare: what nodemailer would log if it ever logged the real payload
    const lines = [{ dir: 'C' as const, text: `AUTH PLAIN ${b64('\u0000demo\u0000s3cret-pw')}` }];

    // Act
    const out = renderTranscript(lines, ['s3cret-pw']);

    // Assess
    expect(out[0]!.text).toBe('AUTH PLAIN <user "demo", password hidden>');
  });

  it('hides the AUTH LOGIN password line and masks any leftover secret or its base64', () => {
    // Prepare
    const lines = [
      { dir: 'C' as const, text: 'AUTH LOGIN' },
      { dir: 'S' as const, text: '334 VXNlcm5hbWU6' },
      { dir: 'C' as const, text: b64('partner-user') },
      { dir: 'S' as const, text: '334 UGFzc3dvcmQ6' },
      { dir: 'C' as const, text: b64('s3cret-pw') },
      { dir: 'S' as const, text: `535 echo ${b64('s3cret-pw')} s3cret-pw` },
    ];

    // Act
    const out = renderTranscript(lines, ['s3cret-pw']).map((l) => `${l.dir}: ${l.text}`);

    // Assess
    expect(out).toEqual([
      'C: AUTH LOGIN',
      'S: 334 VXNlcm5hbWU6   (Username:)',
      `C: ${b64('partner-user')}   (username "partner-user")`,
      'S: 334 UGFzc3dvcmQ6   (Password:)',
      'C: <password, hidden>',
      'S: 535 echo *** ***',
    ]);
  });

  it('shows XOAUTH2 with the user and without the token', () => {
    const lines = [{ dir: 'C' as const, text: `AUTH XOAUTH2 ${b64('user=bob@acme.example\u0001auth=Bearer tok-123\u0001\u0001')}` }];
    expect(renderTranscript(lines, ['tok-123'])[0]!.text).toBe('AUTH XOAUTH2 <user "bob@acme.example", bearer token hidden>');
  });
});

describe('formatWorkerRecord', () => {
  it('turns the worker records into one short line each', () => {
    expect(formatWorkerRecord({ level: 'INFO', message: 'relayed', recipient: 'bob@example.net', route: 'smtp.example:587 starttls PLAIN user=u', smtpReply: '250 2.0.0 queued' })).toBe(
      '[worker] relayed   bob@example.net via smtp.example:587 starttls PLAIN user=u: 250 2.0.0 queued',
    );
    expect(formatWorkerRecord({ level: 'WARN', message: 'deferred', recipient: 'bob@example.net', reason: 'auth-failed', smtpReply: '535 5.7.8 no' })).toBe(
      '[worker] deferred  bob@example.net: auth-failed (535 5.7.8 no), will retry',
    );
    expect(formatWorkerRecord({ level: 'WARN', message: 'dead-lettered', sqsMessageId: 'm-1', reason: 'invalid-message', detail: 'to[0]: bad' }, { dlqCommand: 'x dlq list' })).toBe(
      '[worker] dead-lettered message m-1 (invalid-message): to[0]: bad  → see `x dlq list`',
    );
    expect(formatWorkerRecord({ level: 'DEBUG', message: 'noise' })).toBeUndefined();
    expect(formatWorkerRecord({ level: 'ERROR', message: 'boom', detail: 'why', timestamp: 't', service: 's' })).toBe('[worker] ERROR boom detail=why');
  });
});

describe('placeholders and secrets', () => {
  it('fills the relay placeholders, a port as a number', () => {
    const item = { scope: 'global', relay: { host: '${LOCAL_RELAY_HOST}', port: '${LOCAL_RELAY_PORT}', ehloName: 'x${LOCAL_RELAY_PORT}' } };
    expect(fillPlaceholders(item, relayPlaceholders({ host: '127.0.0.1', port: 2525 }))).toEqual({
      scope: 'global',
      relay: { host: '127.0.0.1', port: 2525, ehloName: 'x${LOCAL_RELAY_PORT}' },
    });
  });

  it('masks inline value keysources wherever they are', () => {
    expect(maskInlineValues({ auth: { pass: { value: 'pw' }, oauth2: { clientSecret: { value: 'cs' } } }, relay: { host: 'h' } })).toEqual({
      auth: { pass: { value: '***' }, oauth2: { clientSecret: { value: '***' } } },
      relay: { host: 'h' },
    });
  });

  it('reads local/secrets.json: JSON secrets with username and password become relay users', () => {
    const seed = readSecretsFile(new URL('../../local/secrets.json', import.meta.url).pathname);
    expect(seed.relayUsers).toEqual({ demo: 'demo-password', 'partner-user': 'partner-password' });
    expect(JSON.parse(seed.secrets['mailrelay/partner']!)).toEqual({ username: 'partner-user', password: 'partner-password' });
  });
});

describe('startLocalStack', () => {
  it('refuses a config file with invalid items, naming each, before starting anything', async () => {
    // Prepare
    const configFile = join(dir, 'config.json');
    writeFileSync(configFile, JSON.stringify([{ scope: 'global', relay: { host: '${LOCAL_RELAY_HOST}', port: '${LOCAL_RELAY_PORT}' } }, { scope: 'domain#x.example', relay: { tls: 'sometimes' } }]));

    // Act
    const started = startLocalStack({ configFile, stateFile: false, worker: false, print: () => undefined });

    // Assess
    await expect(started).rejects.toBeInstanceOf(LocalFileError);
    await expect(started).rejects.toThrow(/\[1\] domain#x\.example: relay\.tls: must be starttls, implicit or none/);
  });

  it('starts without a worker and seeds the stand-ins from the files', async () => {
    // Act
    const stack = await startLocalStack({ stateFile: false, worker: false, print: () => undefined });
    try {
      // Assess
      expect(stack.configItems.find((i) => i.scope === 'global')?.relay).toMatchObject({ host: '127.0.0.1', port: stack.relay.port });
      expect(stack.relayUsers).toEqual(['demo', 'partner-user']);
      expect(stack.state.queueUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/000000000000\/mailrelay$/);
      expect(await stack.deadLetterCount()).toBe(0);
    } finally {
      await stack.stop();
    }
  });
});
