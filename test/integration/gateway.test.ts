/**
 * `mailrelay gateway` against real peers: nodemailer and raw-socket dialogues on 127.0.0.1,
 * fauxqs for SQS, dynalite for the submitter items, the local Secrets Manager endpoint for the
 * passwords. The AUTH failure delay is recorded, not waited for.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { PurgeQueueCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AwsSecretSource } from '../../lambda/adapters/awsSecretSource.js';
import { DynamoConfigStore } from '../../lambda/adapters/dynamoConfigStore.js';
import { parseQueueMessage } from '../../lambda/core/message/index.js';
import type { ConfigStore } from '../../lambda/core/ports.js';
import { SqsSubmissionQueue } from '../../cli/gateway/adapters/sqsSubmissionQueue.js';
import { AuthFailureThrottle } from '../../cli/gateway/authFailureThrottle.js';
import { MemoryEvents } from '../../cli/gateway/events.js';
import { startGateway, type Gateway } from '../../cli/gateway/gatewayServer.js';
import type { SubmissionQueue } from '../../cli/gateway/ports.js';
import { SubmitterDirectory } from '../../cli/gateway/submitterDirectory.js';
import { localAwsClientConfig } from '../../local/awsClientConfig.js';
import { testCerts } from '../../local/certs.js';
import { createConfigTable, createQueues, startDynamo, startSqs, type CreatedQueues, type LocalEmulator } from '../../local/emulators.js';
import { startSecretsEndpoint, type SecretsEndpoint } from '../../local/secretsEndpoint.js';
import { b64, plainToken, SmtpDialogue } from '../helpers/smtpDialogue.js';

const APP1_PASSWORD = 'app1-Pw-9f8e7d6c5b';
const LEGACY_PASSWORD = 'legacy-Pw-1a2b3c4d';
const MAX_BYTES = 64 * 1024;
const LOCKOUT_AFTER = 4;

let dynamo: LocalEmulator;
let sqsEmulator: LocalEmulator;
let secrets: SecretsEndpoint;
let sqs: SQSClient;
let dynamoClient: DynamoDBClient;
let queues: CreatedQueues;
let gateway: Gateway;
let events: MemoryEvents;
let delays: number[];
let configReads: number;
let queueDown = false;
/** The throttle's clock: each test starts an hour later, so no test inherits another's failures. */
let clock = 0;
const clients: { destroy(): void }[] = [];

beforeAll(async () => {
  [dynamo, sqsEmulator, secrets] = await Promise.all([startDynamo(), startSqs(), startSecretsEndpoint({ secrets: { 'mailrelay/submitters/app1': APP1_PASSWORD } })]);
  dynamoClient = new DynamoDBClient(localAwsClientConfig(dynamo.endpoint, 1));
  const documents = DynamoDBDocumentClient.from(dynamoClient);
  sqs = new SQSClient(localAwsClientConfig(sqsEmulator.endpoint, 1));
  await createConfigTable(dynamoClient, 'mailrelay-config');
  queues = await createQueues(sqs, { name: 'gateway-test', maxReceiveCount: 3, visibilityTimeout: 30 });
  const put = (item: Record<string, unknown>) => documents.send(new PutCommand({ TableName: 'mailrelay-config', Item: item }));
  await put({ scope: 'submitter#app1', password: { secret: 'mailrelay/submitters/app1' }, binding: 'Acme', authz: ['billing'], fromDomains: ['acme.example'] });
  await put({ scope: 'submitter#legacy', password: { value: LEGACY_PASSWORD }, binding: 'acme', fromDomains: ['acme.example'], allowLogin: true });
  await put({ scope: 'submitter#broken', password: { value: 'x' }, binding: 'acme', fromDomains: ['acme.example'], colour: 'blue' });

  const secretsManager = new SecretsManagerClient(localAwsClientConfig(secrets.url, 1));
  const ssm = new SSMClient(localAwsClientConfig(secrets.url, 1));
  // An SQS endpoint nobody listens on: every send fails at the transport, as when SQS is unreachable.
  const deadSqs = new SQSClient(localAwsClientConfig('http://127.0.0.1:9', 1));
  clients.push(secretsManager, ssm, deadSqs);
  const dynamoStore = new DynamoConfigStore({ client: documents, tableName: 'mailrelay-config', cacheTtlMs: 0 });
  const countingStore: ConfigStore = {
    getItems(scopes) {
      configReads++;
      return dynamoStore.getItems(scopes);
    },
  };
  const live = new SqsSubmissionQueue({ client: sqs, queueUrl: queues.queueUrl });
  const dead = new SqsSubmissionQueue({ client: deadSqs, queueUrl: queues.queueUrl });
  const queue: SubmissionQueue = { send: (body) => (queueDown ? dead : live).send(body) };
  events = new MemoryEvents();
  gateway = await startGateway({
    directory: new SubmitterDirectory({ config: countingStore, secrets: new AwsSecretSource({ secretsManager, ssm, prefix: 'mailrelay/' }), cacheTtlMs: 0 }),
    queue,
    tls: testCerts.server,
    port: 0,
    implicitTlsPort: 0,
    serverName: 'gateway.test',
    maxMessageBytes: MAX_BYTES,
    events,
    throttle: new AuthFailureThrottle({ failuresBeforeLockout: LOCKOUT_AFTER, now: () => clock }),
    sleep: async (ms) => {
      delays.push(ms);
    },
  });
});

afterAll(async () => {
  await gateway?.stop();
  for (const client of clients) client.destroy();
  sqs?.destroy();
  dynamoClient?.destroy();
  await Promise.all([dynamo?.stop(), sqsEmulator?.stop(), secrets?.stop()]);
});

beforeEach(async () => {
  delays = [];
  clock += 60 * 60_000;
  configReads = 0;
  queueDown = false;
  events.events.length = 0;
  await sqs.send(new PurgeQueueCommand({ QueueUrl: queues.queueUrl }));
});

const transport = (auth: { user: string; pass: string; method?: string }, port = gateway.port, secure = false) =>
  nodemailer.createTransport({ host: '127.0.0.1', port, secure, requireTLS: !secure, tls: { ca: testCerts.ca, servername: 'localhost' }, auth, authMethod: auth.method ?? 'PLAIN' });

async function receiveAll(): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for (let i = 0; i < 5; i++) {
    const { Messages } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queues.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
    if (!Messages?.length) break;
    for (const m of Messages) out.push(JSON.parse(m.Body!) as Record<string, unknown>);
  }
  return out;
}

/** A dialogue that has done EHLO, STARTTLS, EHLO: ready for AUTH. */
async function secureDialogue(): Promise<SmtpDialogue> {
  const { dialogue } = await SmtpDialogue.open(gateway.port);
  await dialogue.command('EHLO client.test');
  expect((await dialogue.startTls()).code).toBe(220);
  await dialogue.command('EHLO client.test');
  return dialogue;
}

async function authenticatedDialogue(): Promise<SmtpDialogue> {
  const dialogue = await secureDialogue();
  expect((await dialogue.command(`AUTH PLAIN ${plainToken('', 'app1', APP1_PASSWORD)}`)).code).toBe(235);
  return dialogue;
}

const MESSAGE = 'From: App <app@acme.example>\r\nTo: bob@example.net\r\nSubject: Hello\r\n\r\nHi Bob\r\n';

describe('before TLS', () => {
  it('does not advertise AUTH, refuses AUTH PLAIN/LOGIN and MAIL with 530 5.7.0, and reads no credential', async () => {
    // Prepare
    const { dialogue, greeting } = await SmtpDialogue.open(gateway.port);
    // Act
    const ehlo = await dialogue.command('EHLO client.test');
    const plain = await dialogue.command(`AUTH PLAIN ${plainToken('', 'app1', APP1_PASSWORD)}`);
    const login = await dialogue.command('AUTH LOGIN');
    const mail = await dialogue.command('MAIL FROM:<app@acme.example>');
    dialogue.close();
    // Assess
    expect(greeting.code).toBe(220);
    expect(ehlo.text).toContain('STARTTLS');
    expect(ehlo.text).not.toMatch(/AUTH/);
    expect(ehlo.text).toMatch(/SIZE 65536/);
    expect(plain).toEqual({ code: 530, text: '5.7.0 Must issue a STARTTLS command first: AUTH is only offered over TLS' });
    // No 334 prompt: nothing invites the client to send a credential.
    expect(login.code).toBe(530);
    expect(mail.code).toBe(530);
    expect(configReads).toBe(0);
    expect(events.events.filter((e) => String(e.event).startsWith('auth'))).toEqual([]);
  });

  it('nodemailer without TLS is refused before it authenticates', async () => {
    const client = nodemailer.createTransport({ host: '127.0.0.1', port: gateway.port, secure: false, ignoreTLS: true, auth: { user: 'app1', pass: APP1_PASSWORD } });
    await expect(client.sendMail({ from: 'app@acme.example', to: 'bob@example.net', text: 'x' })).rejects.toMatchObject({ responseCode: 530 });
    expect(configReads).toBe(0);
  });
});

describe('AUTH after STARTTLS', () => {
  it('AUTH PLAIN with an empty authz: 235, and the message is queued with both identities, the binding and a Received header', async () => {
    // Act
    const info = await transport({ user: 'app1', pass: APP1_PASSWORD }).sendMail({ from: 'App <app@acme.example>', to: ['bob@example.net', 'carol@example.org'], subject: 'Hello', text: 'Hi' });
    const queued = await receiveAll();
    // Assess
    expect(info.response).toMatch(/^250 .*queued as gateway-/);
    expect(queued).toHaveLength(1);
    const body = queued[0]!;
    expect(body['binding']).toBe('acme');
    expect(body['envelope']).toEqual({ from: 'app@acme.example', to: ['bob@example.net', 'carol@example.org'] });
    expect(body['submission']).toMatchObject({ authnId: 'app1', authzId: 'app1', clientAddress: '127.0.0.1' });
    expect(String(body['raw'])).toMatch(/^Received: from \S+ \(\[127\.0\.0\.1\]\)\r\n\t\(using TLSv1\.[23] with cipher \S+\)\r\n\tby gateway\.test \(mailrelay gateway\) with ESMTPSA id \S+;\r\n\t.+ \+0000\r\n/);
    // The worker accepts it as it is, submission included.
    const parsed = parseQueueMessage(JSON.stringify(body), { fallbackIdempotencyKey: 'x' });
    expect(parsed.submission).toMatchObject({ authnId: 'app1', authzId: 'app1' });
    expect(events.named('auth-succeeded')[0]).toMatchObject({ code: 235, authnId: 'app1', authzId: 'app1', method: 'PLAIN' });
  });

  it('an authz listed in the item: 235, and authzId travels with the message', async () => {
    const dialogue = await secureDialogue();
    expect((await dialogue.command(`AUTH PLAIN ${plainToken('billing', 'app1', APP1_PASSWORD)}`)).code).toBe(235);
    expect((await dialogue.command('MAIL FROM:<app@acme.example>')).code).toBe(250);
    expect((await dialogue.command('RCPT TO:<bob@example.net>')).code).toBe(250);
    expect((await dialogue.command('DATA')).code).toBe(354);
    expect((await dialogue.sendRaw(`${MESSAGE}.\r\n`)).code).toBe(250);
    dialogue.close();
    const [body] = await receiveAll();
    expect(body!['submission']).toMatchObject({ authnId: 'app1', authzId: 'billing' });
  });

  it('authz not listed for the authc: 535 after a delay', async () => {
    const dialogue = await secureDialogue();
    const answer = await dialogue.command(`AUTH PLAIN ${plainToken('someone-else', 'app1', APP1_PASSWORD)}`);
    dialogue.close();
    expect(answer).toEqual({ code: 535, text: '5.7.8 Authentication credentials invalid' });
    expect(delays.length).toBe(1);
    expect(delays[0]).toBeGreaterThan(0);
    expect(events.named('auth-failed')[0]).toMatchObject({ reason: 'authz-not-allowed', authnId: 'app1' });
  });

  it('wrong password, unknown submitter, invalid item, empty authcid: 535 after a delay, the password never in an event', async () => {
    await expect(transport({ user: 'app1', pass: 'Wrong-Guess-123' }).sendMail({ from: 'app@acme.example', to: 'bob@example.net', text: 'x' })).rejects.toMatchObject({ responseCode: 535 });
    const dialogue = await secureDialogue();
    const unknown = await dialogue.command(`AUTH PLAIN ${plainToken('', 'nobody', 'whatever')}`);
    const broken = await dialogue.command(`AUTH PLAIN ${plainToken('', 'broken', 'x')}`);
    // RFC 4616: the authcid authenticates; an authzid alone is not an identity.
    const authzOnly = await dialogue.command(`AUTH PLAIN ${plainToken('app1', '', APP1_PASSWORD)}`);
    dialogue.close();
    expect([unknown.code, broken.code, authzOnly.code]).toEqual([535, 535, 535]);
    expect(events.named('auth-failed').map((e) => e['reason'])).toEqual(['wrong-password', 'unknown-submitter', 'invalid-submitter-item', 'no-authc']);
    expect(delays).toHaveLength(4);
    expect(JSON.stringify(events.events)).not.toContain('Wrong-Guess-123');
    expect(JSON.stringify(events.events)).not.toContain(APP1_PASSWORD);
  });

  it('AUTH LOGIN: 504 for a submitter without allowLogin, 235 for one with it', async () => {
    await expect(transport({ user: 'app1', pass: APP1_PASSWORD, method: 'LOGIN' }).sendMail({ from: 'app@acme.example', to: 'bob@example.net', text: 'x' })).rejects.toMatchObject({
      responseCode: 504,
    });
    const dialogue = await secureDialogue();
    expect((await dialogue.command('AUTH LOGIN')).code).toBe(334);
    expect((await dialogue.command(b64('legacy'))).code).toBe(334);
    expect((await dialogue.command(b64(LEGACY_PASSWORD))).code).toBe(235);
    dialogue.close();
  });

  it('implicit TLS (465 style): AUTH is offered at once and works', async () => {
    const info = await transport({ user: 'app1', pass: APP1_PASSWORD }, gateway.implicitTlsPort, true).sendMail({ from: 'app@acme.example', to: 'bob@example.net', text: 'over 465' });
    expect(info.response).toMatch(/^250 /);
    expect(await receiveAll()).toHaveLength(1);
  });

  it('repeated failures from one address are slowed (growing delay), then refused with 454 even with the right password', async () => {
    const dialogue = await secureDialogue();
    const codes: number[] = [];
    for (let i = 0; i < LOCKOUT_AFTER + 1; i++) codes.push((await dialogue.command(`AUTH PLAIN ${plainToken('', 'app1', `guess-${i}`)}`)).code);
    const right = await dialogue.command(`AUTH PLAIN ${plainToken('', 'app1', APP1_PASSWORD)}`);
    dialogue.close();
    expect(codes.at(-1)).toBe(454);
    expect(right.code).toBe(454);
    expect(right.text).toMatch(/Too many failed authentications from 127\.0\.0\.1/);
    expect(delays.length).toBeGreaterThan(1);
    expect(delays.at(-1)!).toBeGreaterThan(delays[0]!);
    expect(events.named('auth-locked-out').length).toBeGreaterThanOrEqual(2);
  });
});

describe('MAIL, RCPT and DATA', () => {
  it('MAIL FROM outside the submitter\'s fromDomains: 550, and the null sender too', async () => {
    const dialogue = await authenticatedDialogue();
    const other = await dialogue.command('MAIL FROM:<ceo@evil.example>');
    const sub = await dialogue.command('MAIL FROM:<app@mail.acme.example>');
    const empty = await dialogue.command('MAIL FROM:<>');
    const upper = await dialogue.command('MAIL FROM:<App@ACME.Example>');
    dialogue.close();
    expect(other.code).toBe(550);
    expect(other.text).toMatch(/evil\.example is not a sender domain of app1/);
    expect(sub.code).toBe(550);
    expect(empty.code).toBe(550);
    expect(upper.code).toBe(250);
    expect(events.named('mail-refused')).toHaveLength(3);
  });

  it('SQS down: 451 and nothing queued; the client retries once SQS is back and gets 250', async () => {
    const client = transport({ user: 'app1', pass: APP1_PASSWORD });
    const mail = { from: 'app@acme.example', to: 'bob@example.net', subject: 'retry me', text: 'x' };
    queueDown = true;
    await expect(client.sendMail(mail)).rejects.toMatchObject({ responseCode: 451 });
    expect(events.named('queue-failed')).toHaveLength(1);
    queueDown = false;
    const info = await client.sendMail(mail);
    expect(info.response).toMatch(/^250 /);
    const queued = await receiveAll();
    expect(queued).toHaveLength(1);
    expect(String(queued[0]!['raw'])).toContain('Subject: retry me');
  });

  it('bare LF and bare CR in DATA are refused with 554 naming the line, and the session goes on in step', async () => {
    const dialogue = await authenticatedDialogue();
    const send = async (content: string) => {
      await dialogue.command('MAIL FROM:<app@acme.example>');
      await dialogue.command('RCPT TO:<bob@example.net>');
      await dialogue.command('DATA');
      return dialogue.sendRaw(content);
    };
    const lf = await send('Subject: a\r\n\r\nline one\nline two\r\n.\r\n');
    // The smuggling shape: a bare-LF "end of data" followed by a second transaction.
    const smuggle = await send('Subject: b\r\n\r\nhello\n.\nMAIL FROM:<x@evil.example>\r\n.\r\n');
    const cr = await send('Subject: c\r\n\r\nline one\rline two\r\n.\r\n');
    const fine = await send(`${MESSAGE}.\r\n`);
    dialogue.close();
    expect(lf).toEqual({ code: 554, text: '5.6.0 Message refused: bare LF (a line feed without CR) at line 3; SMTP requires CRLF line endings' });
    expect(smuggle.code).toBe(554);
    expect(cr.code).toBe(554);
    expect(cr.text).toMatch(/bare CR .* at line 3/);
    expect(fine.code).toBe(250);
    expect(await receiveAll()).toHaveLength(1);
  });

  it('SIZE is announced and enforced: MAIL with a larger SIZE= and a larger DATA get 552', async () => {
    const dialogue = await secureDialogue();
    const ehlo = await dialogue.command('EHLO client.test');
    await dialogue.command(`AUTH PLAIN ${plainToken('', 'app1', APP1_PASSWORD)}`);
    const declared = await dialogue.command(`MAIL FROM:<app@acme.example> SIZE=${MAX_BYTES + 1}`);
    await dialogue.command('MAIL FROM:<app@acme.example>');
    await dialogue.command('RCPT TO:<bob@example.net>');
    await dialogue.command('DATA');
    const big = await dialogue.sendRaw(`Subject: big\r\n\r\n${'x'.repeat(900)}\r\n`.repeat(80) + '.\r\n');
    dialogue.close();
    expect(ehlo.text).toMatch(new RegExp(`SIZE ${MAX_BYTES}`));
    expect(declared.code).toBe(552);
    expect(big.code).toBe(552);
    expect(await receiveAll()).toHaveLength(0);
  });

  it('a line over 998 octets is refused (the worker\'s limit), and an invalid recipient gets 553', async () => {
    const dialogue = await authenticatedDialogue();
    const badRcpt = await dialogue.command('MAIL FROM:<app@acme.example>').then(() => dialogue.command('RCPT TO:<bob@localhost>'));
    await dialogue.command('RCPT TO:<bob@example.net>');
    await dialogue.command('DATA');
    const long = await dialogue.sendRaw(`Subject: long\r\n\r\n${'y'.repeat(999)}\r\n.\r\n`);
    dialogue.close();
    expect(badRcpt.code).toBe(553);
    expect(long.code).toBe(554);
    expect(long.text).toMatch(/line 3 is longer than 998 octets/);
  });

  it('8-bit content that is not UTF-8 is refused with 554 (the queue message is JSON)', async () => {
    const dialogue = await authenticatedDialogue();
    await dialogue.command('MAIL FROM:<app@acme.example> BODY=8BITMIME');
    await dialogue.command('RCPT TO:<bob@example.net>');
    await dialogue.command('DATA');
    const latin1 = await dialogue.sendRaw(Buffer.concat([Buffer.from('Subject: x\r\n\r\nCaf'), Buffer.from([0xe9]), Buffer.from('\r\n.\r\n')]));
    dialogue.close();
    expect(latin1.code).toBe(554);
    expect(latin1.text).toMatch(/UTF-8/);
  });
});
