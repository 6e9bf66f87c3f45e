/** The gateway's small parts on their own: the submitter schema, the failure throttle, the DATA checks, keysource arguments, `submission`. */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { AuthFailureThrottle } from '../../../cli/gateway/authFailureThrottle.js';
import { MAX_MESSAGE_BYTES } from '../../../cli/gateway/constants.js';
import { parseKeysourceArgument } from '../../../cli/gateway/keysourceArgument.js';
import { buildQueueMessage, receivedHeader } from '../../../cli/gateway/queueMessage.js';
import { readMessageData } from '../../../cli/gateway/readMessageData.js';
import { constantTimeEquals } from '../../../cli/gateway/submitterDirectory.js';
import { parseSubmitterItem } from '../../../lambda/core/config/submitter.js';
import { ConfigValidationError } from '../../../lambda/core/errors.js';
import { MAX_BODY_BYTES, parseQueueMessage } from '../../../lambda/core/message/index.js';
import { processRecord } from '../../../lambda/worker/processRecord.js';
import { SmtpPool } from '../../../lambda/core/smtp/pool.js';
import { MemoryConfigStore, MemoryDeadLetterQueue, MemoryIdempotencyStore, MemorySecretSource } from '../../helpers/memoryPorts.js';

const item = { scope: 'submitter#app1', password: { secret: 'mailrelay/app1' }, binding: 'Acme', fromDomains: ['ACME.example', 'bücher.example'] };

function issuesOf(input: unknown): { path: string; message: string }[] {
  try {
    parseSubmitterItem(input);
  } catch (error) {
    if (error instanceof ConfigValidationError) return [...error.issues];
    throw error;
  }
  return [];
}

describe('submitter item', () => {
  it('normalises binding and domains, defaults authz to []', () => {
    expect(parseSubmitterItem(item)).toEqual({ ...item, binding: 'acme', authz: [], fromDomains: ['acme.example', 'xn--bcher-kva.example'] });
  });

  it('unknown fields and bad values are errors with their path', () => {
    expect(issuesOf({ ...item, colour: 'blue', authz: ['ok', 'has space'], allowLogin: 'yes' })).toEqual(
      expect.arrayContaining([
        { path: 'colour', message: 'unknown field' },
        { path: 'authz[1]', message: expect.stringMatching(/must be 1-128/) },
        { path: 'allowLogin', message: 'must be true or false' },
      ]),
    );
    expect(issuesOf({ ...item, fromDomains: [] })).toEqual([{ path: 'fromDomains', message: 'must name at least one domain' }]);
    expect(issuesOf({ ...item, fromDomains: ['localhost'] })[0]!.path).toBe('fromDomains[0]');
    expect(issuesOf({ ...item, scope: 'submitter#' })[0]!.path).toBe('scope');
    expect(issuesOf({ ...item, password: { file: '/etc/shadow' } })[0]!.path).toBe('password');
    expect(issuesOf({ scope: 'submitter#x' }).map((i) => i.path)).toEqual(expect.arrayContaining(['password', 'binding', 'fromDomains']));
  });
});

describe('AuthFailureThrottle', () => {
  it('doubles the delay per failure, locks out after the threshold, and forgets after the window', () => {
    let now = 0;
    const throttle = new AuthFailureThrottle({ delayMs: 100, maxDelayMs: 350, failuresBeforeLockout: 3, windowMs: 1_000, lockoutMs: 5_000, now: () => now });
    const delays = [1, 2, 3].map(() => throttle.recordFailure('192.0.2.1'));
    expect(delays.map((d) => d.delayMs)).toEqual([100, 200, 350]);
    expect(delays.map((d) => d.lockedOut)).toEqual([false, false, true]);
    expect(throttle.lockedFor('192.0.2.1')).toBe(5_000);
    expect(throttle.lockedFor('192.0.2.2')).toBe(0);
    now = 5_001;
    expect(throttle.lockedFor('192.0.2.1')).toBe(0);
    expect(throttle.recordFailure('192.0.2.1').failures).toBe(1);
  });

  it('tracks a bounded number of addresses', () => {
    const throttle = new AuthFailureThrottle({ maxAddresses: 3 });
    for (let i = 0; i < 10; i++) throttle.recordFailure(`192.0.2.${i}`);
    expect(throttle.trackedAddresses).toBe(3);
  });
});

describe('readMessageData', () => {
  const read = (chunks: (string | Buffer)[], max = 1_000_000) => {
    const stream = new PassThrough();
    const result = readMessageData(stream, max);
    for (const chunk of chunks) stream.write(chunk);
    stream.end();
    return result;
  };

  it('accepts CRLF text split anywhere, a CR at the end of one chunk and its LF in the next', async () => {
    const result = await read(['Subject: a\r', '\n\r\nbody\r', '\n']);
    expect(result).toEqual({ ok: true, data: Buffer.from('Subject: a\r\n\r\nbody\r\n') });
  });

  it('finds bare LF, bare CR (also at a chunk end), long lines and oversize', async () => {
    expect(await read(['a\r\nb\nc\r\n'])).toMatchObject({ ok: false, code: 554, reason: 'bare-lf' });
    expect(await read(['a\r', 'b\r\n'])).toMatchObject({ ok: false, code: 554, reason: 'bare-cr', message: expect.stringContaining('line 1') });
    expect(await read(['a\r'])).toMatchObject({ ok: false, reason: 'bare-cr' });
    expect(await read([`${'x'.repeat(998)}\r\n`])).toMatchObject({ ok: true });
    expect(await read([`${'x'.repeat(500)}`, `${'x'.repeat(499)}\r\n`])).toMatchObject({ ok: false, reason: 'line-too-long' });
    expect(await read(['x'.repeat(60), '\r\n'], 50)).toMatchObject({ ok: false, code: 552, reason: 'too-large' });
  });
});

describe('queue message', () => {
  const submission = { authnId: 'app1', authzId: 'billing', clientAddress: '192.0.2.1', receivedAt: '2026-12-04T21:00:00.000Z' };
  const received = receivedHeader({ heloName: 'client.example', clientAddress: '192.0.2.1', serverName: 'gw.example', tlsProtocol: 'TLSv1.3', tlsCipher: 'TLS_AES_256_GCM_SHA384', sessionId: 'abc', receivedAt: new Date('2026-12-04T21:00:00Z') });

  it('the Received header is a folded trace field', () => {
    expect(received).toBe('Received: from client.example ([192.0.2.1])\r\n\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)\r\n\tby gw.example (mailrelay gateway) with ESMTPSA id abc;\r\n\tFri, 04 Dec 2026 21:00:00 +0000\r\n');
  });

  it('builds a body the worker accepts: raw, envelope, binding, submission', () => {
    const built = buildQueueMessage({ data: Buffer.from('Subject: hi\r\n\r\nbody\r\n'), received, envelope: { from: 'a@acme.example', to: ['b@example.net'] }, binding: 'acme', submission });
    expect(built.ok).toBe(true);
    if (!built.ok) return;
    const message = parseQueueMessage(built.body, { fallbackIdempotencyKey: 'x' });
    expect(message).toMatchObject({ binding: 'acme', bindingSource: 'message', submission, idempotencyKey: built.idempotencyKey });
    expect(message.envelope.to.map((r) => r.address)).toEqual(['b@example.net']);
  });

  it('refuses what the worker would refuse, with the reason', () => {
    const built = buildQueueMessage({ data: Buffer.from('Subject: hi\r\n\r\nbody\0\r\n'), received, envelope: { from: 'a@acme.example', to: ['b@example.net'] }, binding: 'acme', submission });
    expect(built).toMatchObject({ ok: false, code: 554, reason: 'invalid-message', message: expect.stringContaining('raw: must not contain NUL') });
  });

  it('SIZE leaves room for the envelope within the SQS limit', () => {
    expect(MAX_MESSAGE_BYTES).toBeLessThan(MAX_BODY_BYTES);
    expect(MAX_BODY_BYTES - MAX_MESSAGE_BYTES).toBeGreaterThanOrEqual(64 * 1024);
  });

  it('the worker validates submission strictly', () => {
    const base = { raw: 'From: a@acme.example\r\nTo: b@example.net\r\n\r\nx\r\n' };
    expect(() => parseQueueMessage(JSON.stringify({ ...base, submission: { ...submission, extra: 1 } }), { fallbackIdempotencyKey: 'x' })).toThrow(/submission\.extra: unknown field/);
    expect(() => parseQueueMessage(JSON.stringify({ ...base, submission: { ...submission, receivedAt: 'yesterday' } }), { fallbackIdempotencyKey: 'x' })).toThrow(/submission\.receivedAt: must be an ISO 8601/);
    expect(() => parseQueueMessage(JSON.stringify({ ...base, submission: { ...submission, authnId: 'a\r\nb' } }), { fallbackIdempotencyKey: 'x' })).toThrow(/submission\.authnId/);
  });

  it('the worker logs the submission with the message', async () => {
    const logs: { message: string; extra: Record<string, unknown> }[] = [];
    const log = (message: string, extra: Record<string, unknown> = {}) => logs.push({ message, extra });
    const pool = new SmtpPool({});
    // A relay nobody listens on: the message is deferred, and the deferral is logged with its context.
    await processRecord(
      { messageId: 'm1', receiptHandle: 'r', body: JSON.stringify({ raw: 'From: a@acme.example\r\nTo: b@example.net\r\n\r\nx\r\n', binding: 'acme', submission }), attributes: { ApproximateReceiveCount: '1' } },
      {
        config: new MemoryConfigStore({ global: { scope: 'global', relay: { host: '127.0.0.1', port: 9, timeoutSeconds: 5 }, auth: { type: 'NONE' } } }),
        secrets: new MemorySecretSource(),
        pool,
        idempotency: new MemoryIdempotencyStore(),
        deadLetters: new MemoryDeadLetterQueue(),
        logger: { debug: log, info: log, warn: log, error: log },
        metrics: { addMetric: () => undefined },
        maxReceiveCount: 3,
        claimLeaseMs: 60_000,
      },
    );
    pool.closeIdle();
    expect(logs.find((l) => l.extra['recipient'] === 'b@example.net')?.extra).toMatchObject({ submission, binding: 'acme' });
  });
});

describe('small helpers', () => {
  it('keysource arguments: short forms and JSON, validated', () => {
    expect(parseKeysourceArgument('secret:mailrelay/gw#cert')).toEqual({ secret: 'mailrelay/gw', field: 'cert' });
    expect(parseKeysourceArgument('parameter:/mailrelay/key')).toEqual({ parameter: '/mailrelay/key' });
    expect(parseKeysourceArgument('{"env":"MAILRELAY_GW_KEY"}')).toEqual({ env: 'MAILRELAY_GW_KEY' });
    expect(() => parseKeysourceArgument('file:/tmp/x')).toThrow(/must be secret:NAME/);
    expect(() => parseKeysourceArgument('env:not a name')).toThrow(/env/);
  });

  it('constantTimeEquals compares whole strings of any length', () => {
    expect(constantTimeEquals('s3cret', 's3cret')).toBe(true);
    expect(constantTimeEquals('s3cret', 's3cre')).toBe(false);
    expect(constantTimeEquals('', 'x')).toBe(false);
  });
});
