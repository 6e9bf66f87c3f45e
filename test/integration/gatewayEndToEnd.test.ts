/**
 * End to end under the `npm start` stack: nodemailer submits to the gateway (STARTTLS, AUTH PLAIN
 * as the demo submitter), the gateway puts the message on the queue (fauxqs) — a large one through
 * the payload bucket on the S3 stand-in — the real Lambda handler picks it up and relays it to the
 * local STARTTLS + AUTH relay.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectionMetricLine } from '../../cli/gateway/connectionMetric.js';
import { main } from '../../cli/main.js';
import { testCerts } from '../../local/certs.js';
import { idempotencyRecordId } from '../../lambda/worker/idempotencyScope.js';
import { startLocalStack, type LocalStack } from '../../local/start.js';
import type { LocalState } from '../../local/state.js';

let stack: LocalStack;
let dir: string;
const printed: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mailrelay-gateway-'));
  stack = await startLocalStack({ stateFile: join(dir, 'endpoints.json'), workerLogs: 'pretty', print: (line) => printed.push(line) });
});

afterAll(async () => {
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('gateway -> queue -> worker -> relay', () => {
  it('endpoints.json names the gateway and its demo submitter', () => {
    const state = JSON.parse(readFileSync(stack.stateFile!, 'utf8')) as LocalState;
    expect(state.gateway).toEqual({ host: '127.0.0.1', port: stack.gateway!.endpoint.port, user: 'demo-app', password: 'demo-app-password', from: 'app@acme.example' });
  });

  it('a message submitted with nodemailer is relayed, with the gateway\'s Received header and the submitter\'s binding', async () => {
    // Prepare
    const { host, port, user, password, from } = stack.gateway!.endpoint;
    const client = nodemailer.createTransport({ host, port, secure: false, requireTLS: true, tls: { ca: testCerts.ca, servername: 'localhost' }, auth: { user, pass: password }, authMethod: 'PLAIN' });
    // Act
    const info = await client.sendMail({ from: `App <${from}>`, to: 'bob@example.net', subject: 'Through the gateway', text: 'Hello from SMTP' });
    const [relayed] = await stack.relay.waitForMessages(1, 20_000);
    // Assess
    expect(info.response).toMatch(/^250 .*queued as (gateway-\S+)/);
    const key = /queued as (gateway-\S+)/.exec(info.response)![1]!;
    expect(relayed!.mailFrom).toBe(from);
    expect(relayed!.rcptTo).toEqual(['bob@example.net']);
    const raw = relayed!.raw.toString('utf8');
    // The gateway's trace field, on top of what the client sent (a DKIM-Signature may come before it).
    expect(raw).toMatch(/(^|\r\n)Received: from .* \(\[127\.0\.0\.1\]\)\r\n[\s\S]*\r\nSubject: Through the gateway\r\n/);
    expect(raw).toContain('Subject: Through the gateway');
    expect(raw).toContain('Hello from SMTP');
    await expect.poll(() => stack.deliveryStatus(idempotencyRecordId({ binding: 'acme.example', idempotencyKey: key })), { timeout: 10_000 }).toBe('delivered');
    // The gateway logged the submission with the binding from the submitter item.
    expect(printed.join('\n')).toMatch(/\[gateway\] 250 message-queued .*authnId=demo-app .*binding=acme\.example/);
  });
});

describe('mailrelay gateway (the command)', () => {
  it('--local: listens, answers /health, takes mail into the local queue, stops on the signal', async () => {
    // Prepare
    const out: string[] = [];
    const err: string[] = [];
    const abort = new AbortController();
    const running = main(['--local', '--state-file', stack.stateFile!, 'gateway', '--port', '0', '--tls-port', '0', '--health-port', '0', '--name', 'gw.local'], {
      io: { out: (line) => out.push(line), err: (line) => err.push(line) },
      env: { MAILRELAY_GATEWAY_METRICS_NAMESPACE: 'Test/Gateway' },
      signal: abort.signal,
    });
    await expect.poll(() => err.join('\n'), { timeout: 10_000 }).toMatch(/Ctrl-C to stop/);
    const banner = err.join('\n');
    // --local: the gateway offloads to the running npm start's payload bucket.
    expect(banner).toContain('bodies over 256 KiB via s3://mailrelay-payloads');
    const port = Number(/STARTTLS\) on 127\.0\.0\.1:(\d+)/.exec(banner)![1]);
    const healthUrl = /health on (http:\S+)/.exec(banner)![1]!;
    // Act
    const health = await fetch(healthUrl);
    const client = nodemailer.createTransport({ host: '127.0.0.1', port, requireTLS: true, tls: { ca: testCerts.ca, servername: 'localhost' }, auth: { user: 'demo-app', pass: 'demo-app-password' }, authMethod: 'PLAIN' });
    const info = await client.sendMail({ from: 'app@acme.example', to: 'carol@example.org', subject: 'From the command', text: 'x' });
    abort.abort();
    // Assess
    expect(health.status).toBe(200);
    expect(info.response).toMatch(/^250 /);
    expect(await running).toBe(0);
    expect(err.join('\n')).toContain('mailrelay gateway: stopped');
    const events = out.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(events.find((e) => e['event'] === 'message-queued')).toMatchObject({ code: 250, authnId: 'demo-app', binding: 'acme.example' });
    await stack.relay.waitForMessages(2, 20_000);
    expect(stack.relay.messages.some((m) => m.rcptTo.includes('carol@example.org'))).toBe(true);
  });

  it('the connection metric is an EMF document CloudWatch extracts', () => {
    expect(JSON.parse(connectionMetricLine('Mailrelay/Gateway', 3, 1_000))).toEqual({
      _aws: { Timestamp: 1_000, CloudWatchMetrics: [{ Namespace: 'Mailrelay/Gateway', Dimensions: [['Service']], Metrics: [{ Name: 'ActiveConnections', Unit: 'Count' }] }] },
      Service: 'mailrelay-gateway',
      ActiveConnections: 3,
    });
  });
});

describe('a large message under npm start', () => {
  it('2 MiB with an attachment: the gateway offloads it to the local payload bucket, the worker relays it intact and deletes the object', async () => {
    // Prepare
    const { host, port, user, password, from } = stack.gateway!.endpoint;
    const client = nodemailer.createTransport({ host, port, secure: false, requireTLS: true, tls: { ca: testCerts.ca, servername: 'localhost' }, auth: { user, pass: password }, authMethod: 'PLAIN' });
    const content = randomBytes(1_600_000);
    const relayedBefore = stack.relay.messages.length;
    // Act
    const info = await client.sendMail({ from, to: 'dave@example.net', subject: 'Large through the gateway', text: 'See the attachment.', attachments: [{ filename: 'big.bin', content }] });
    // Assess
    expect(info.response).toMatch(/^250 /);
    const queuedLine = printed.find((line) => line.includes('message-queued') && line.includes('payload=s3://mailrelay-payloads/'));
    const key = /payload=s3:\/\/mailrelay-payloads\/(\S+)/.exec(queuedLine ?? '')?.[1];
    expect(key).toBeDefined();
    await stack.relay.waitForMessages(relayedBefore + 1, 30_000);
    const relayed = stack.relay.messages.find((m) => m.rcptTo.includes('dave@example.net'))!;
    const parsed = await simpleParser(relayed.raw);
    expect(parsed.subject).toBe('Large through the gateway');
    expect(parsed.attachments.map((a) => createHash('sha256').update(a.content).digest('hex'))).toEqual([createHash('sha256').update(content).digest('hex')]);
    // Written by the gateway, read and then deleted by the worker once relayed.
    await expect.poll(() => stack.s3.requests.filter((r) => r.key === key).map((r) => r.operation), { timeout: 10_000 }).toEqual(['PutObject', 'GetObject', 'DeleteObject']);
  }, 60_000);
});
