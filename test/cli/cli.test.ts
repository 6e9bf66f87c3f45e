/**
 * `npm start`'s stand-ins with the real worker, and the `mailrelay` CLI as a subprocess against
 * them (`--local --state-file`): enqueue → relayed, config explain's origins, check against a good
 * and a wrong password, the DLQ listed and redriven, config put/get/list/delete, and
 * `npm start -- --once` end to end.
 */
import { createServer, type AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { receiveDeadLetters, release, type DeadLetter } from '../../cli/dlq/deadLetters.js';
import { redriveAttributes } from '../../cli/commands/dlqRedrive.js';
import { main } from '../../cli/main.js';
import { localAwsClientConfig } from '../../local/awsClientConfig.js';
import { startLocalStack, type LocalStack } from '../../local/start.js';
import { killAll, mailrelay, run, waitFor } from './helpers.js';

const SECRETS = ['demo-password', 'partner-password'];
const base64 = (s: string): string => Buffer.from(s).toString('base64');

let stack: LocalStack;
let dir: string;
let cli: (...args: string[]) => ReturnType<typeof mailrelay>;
const printed: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mailrelay-cli-'));
  stack = await startLocalStack({ stateFile: join(dir, 'endpoints.json'), workerLogs: 'silent', print: (line) => printed.push(line) });
  cli = (...args) => mailrelay(['--local', '--state-file', stack.stateFile!, ...args]);
});

afterAll(async () => {
  killAll();
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function file(name: string, content: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

function expectNoSecrets(output: string): void {
  for (const secret of SECRETS) {
    expect(output).not.toContain(secret);
    expect(output).not.toContain(base64(secret));
  }
}

describe('enqueue', () => {
  it('sends a valid message, which the worker relays over STARTTLS + AUTH', async () => {
    // Prepare
    const before = stack.relay.messages.length;

    // Act
    const result = await cli('enqueue', 'local/sample-message.json');

    // Assess
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/local\/sample-message\.json\s+sent\s+[0-9a-f-]{36}/);
    const messages = await stack.relay.waitForMessages(before + 2, 15_000);
    const relayed = messages.slice(before);
    expect(relayed.map((m) => m.rcptTo[0]).sort()).toEqual(['alice@partner.example', 'bob@example.net']);
    expect(relayed.every((m) => m.secure && m.secureAtAuth)).toBe(true);
    expect(relayed.map((m) => m.authMethod).sort()).toEqual(['LOGIN', 'PLAIN']);
    expect(relayed[0]!.raw.toString()).toContain('Subject: Hello from mailrelay');
    expect(printed.some((line) => /^\[smtp-relay\] 250 from=<billing@acme\.example> to=<bob@example\.net> user=demo auth=PLAIN tls=yes/.test(line))).toBe(true);
  });

  it('offloads a 5 MiB file to the payload bucket, sends the S3 pointer, and the worker relays it and deletes the object', async () => {
    // Prepare: two 2 MB attachments, 5.2 MiB of JSON
    const bucket = stack.state.payloadBucket!;
    const big = file('big.json', {
      from: 'Acme Billing <billing@acme.example>',
      to: ['bob@example.net'],
      subject: 'Scans attached',
      text: 'Two scans.',
      attachments: [1, 2].map((n) => ({ filename: `scan-${n}.bin`, contentType: 'application/octet-stream', content: Buffer.alloc(2_000_000, n).toString('base64') })),
    });
    const before = stack.relay.messages.length;

    // Act
    const result = await cli('enqueue', big);

    // Assess
    expect(result.code).toBe(0);
    const key = new RegExp(`big\\.json\\s+sent\\s+[0-9a-f-]{36} \\(body in s3://${bucket}/([0-9a-f-]{36})\\)`).exec(result.stdout)?.[1];
    expect(key).toBeDefined();
    const [relayed] = (await stack.relay.waitForMessages(before + 1, 30_000)).slice(before);
    expect(relayed!.raw.toString()).toContain('Subject: Scans attached');
    expect(relayed!.raw.length).toBeGreaterThan(5 * 1_048_576);
    await waitFor('the object deleted', () => (stack.s3.keys(bucket).includes(key!) ? undefined : true), 10_000);
    expect(stack.s3.requests.filter((r) => r.key === key).map((r) => r.operation)).toEqual(['PutObject', 'GetObject', 'DeleteObject']);
  }, 60_000);

  it('the examples of docs/message.md are valid, and the worker relays each', async () => {
    // Prepare
    const examples = ['inline-image', 'csv-report', 'calendar-invite', 'bounce-address', 'unsubscribe'].map((name) => `examples/messages/${name}.json`);
    const before = stack.relay.messages.length;

    // Act
    const result = await cli('enqueue', ...examples, '--json');

    // Assess
    expect(result.code).toBe(0);
    expect((JSON.parse(result.stdout) as { sent: { file: string }[] }).sent.map((s) => s.file)).toEqual(examples);
    const relayed = (await stack.relay.waitForMessages(before + examples.length, 15_000)).slice(before);
    expect(relayed.map((m) => m.mailFrom)).toContain('bounces+bob=example.net@mail.acme.example');
  });

  it('reports an invalid file with field paths and sends nothing', async () => {
    // Prepare
    const bad = file('bad.json', { from: 'billing@acme.example', to: ['not an address'], subject: 'x', text: 'y', colour: 'red' });

    // Act
    const result = await cli('enqueue', bad, '--json');

    // Assess
    expect(result.code).toBe(1);
    const output = JSON.parse(result.stdout) as { sent: unknown[]; invalid: { file: string; issues: { path: string }[] }[] };
    expect(output.sent).toEqual([]);
    expect(output.invalid[0]!.file).toBe(bad);
    expect(output.invalid[0]!.issues.map((i) => i.path).sort()).toEqual(['colour', 'to[0]']);
  });
});

describe('config explain', () => {
  it('prints the effective settings per recipient group with the scope of each field', async () => {
    // Act
    const [json, text] = await Promise.all([
      cli('config', 'explain', '--from', 'billing@acme.example', '--to', 'bob@example.net', '--to', 'alice@partner.example', '--json'),
      cli('config', 'explain', '--from', 'billing@acme.example', '--to', 'alice@partner.example'),
    ]);

    // Assess
    expect(json.code).toBe(0);
    const answer = JSON.parse(json.stdout) as {
      binding: string;
      routes: { recipients: string[]; origins: Record<string, string>; settings: { auth: { type: string; pass: string } } }[];
    };
    expect(answer.binding).toBe('acme.example');
    const bob = answer.routes.find((r) => r.recipients.includes('bob@example.net'))!;
    const alice = answer.routes.find((r) => r.recipients.includes('alice@partner.example'))!;
    expect(bob.origins).toMatchObject({
      'relay.host': 'global',
      'relay.ehloName': 'binding#acme.example',
      'auth.type': 'global',
      'auth.pass': 'global',
      'limits.maxConnections': 'binding-group#tenants',
      'relay.verifyCertificate': 'default',
    });
    expect(alice.origins).toMatchObject({ 'relay.host': 'global', 'auth.type': 'domain#partner.example', 'auth.user': 'domain#partner.example' });
    expect(alice.settings.auth).toMatchObject({ type: 'LOGIN', pass: 'secret:mailrelay/partner#password' });
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/relay\.ehloName\s+mail\.acme\.example\s+binding#acme\.example/);
    expect(text.stdout).toMatch(/auth\.pass\s+secret:mailrelay\/partner#password\s+domain#partner\.example/);
    expectNoSecrets(json.stdout + text.stdout);
  });
});

describe('delivery events under npm start', () => {
  it('each recipient fate is put on the local bus and printed as it happens', async () => {
    // Prepare
    const before = stack.events.events.length;

    // Act
    const sent = await cli('enqueue', 'local/sample-message.json');
    await waitFor('two delivery events', () => (stack.events.events.length >= before + 2 ? true : undefined));

    // Assess
    expect(sent.code).toBe(0);
    const events = stack.events.events.slice(before);
    expect(events.map((e) => [e.source, e['detail-type'], e.eventBusName, e.detail['recipient']]).sort()).toEqual([
      ['mailrelay', 'Recipient Delivered', stack.state.eventBus, 'alice@partner.example'],
      ['mailrelay', 'Recipient Delivered', stack.state.eventBus, 'bob@example.net'],
    ]);
    expect(events[0]!.detail).toMatchObject({ binding: 'acme.example', smtpCode: 250, attempt: 1, status: 'delivered' });
    expect(printed.some((line) => /^\[events\] Recipient Delivered bob@example\.net 250 key=\S+ attempt=1$/.test(line))).toBe(true);
    // The relay's own line says the message came signed (local/config.json signs acme.example mail).
    expect(printed.some((line) => /^\[smtp-relay\] 250 .*to=<bob@example\.net> .* subject="Hello from mailrelay" dkim=acme\.example\/local$/.test(line))).toBe(true);
  });
});

describe('dkim', () => {
  it('config explain shows the effective signer; dkim dns prints its TXT record, which verifies what the worker relayed', async () => {
    // Prepare
    const before = stack.relay.messages.length;

    // Act
    const [explain, dnsJson, dnsText, enqueue] = await Promise.all([
      cli('config', 'explain', '--from', 'billing@acme.example', '--to', 'bob@example.net'),
      cli('dkim', 'dns', '--binding', 'acme.example', '--json'),
      cli('dkim', 'dns', '--binding', 'acme.example'),
      cli('enqueue', 'local/sample-message.json'),
    ]);

    // Assess
    expect(explain.stdout).toMatch(/dkim\.domain\s+acme\.example\s+binding#acme\.example/);
    expect(explain.stdout).toMatch(/dkim\.privateKey\s+secret:mailrelay\/dkim\/acme\.example#privateKey\s+binding#acme\.example/);
    expect(explain.stdout).toMatch(/dkim\.algorithm\s+rsa-sha256\s+default/);
    expect(dnsJson.code, dnsJson.stderr).toBe(0);
    const record = JSON.parse(dnsJson.stdout) as { name: string; value: string; strings: string[]; from: string };
    expect(record).toMatchObject({ name: 'local._domainkey.acme.example', from: 'binding#acme.example' });
    expect(record.value).toMatch(/^v=DKIM1; k=rsa; p=/);
    expect(dnsText.stdout).toContain(`local._domainkey.acme.example. 3600 IN TXT ( "${record.strings[0]}"`);
    expect(dnsText.stdout + dnsJson.stdout).not.toContain('PRIVATE KEY');
    expect(enqueue.code).toBe(0);
    const relayed = (await stack.relay.waitForMessages(before + 2, 15_000)).slice(before);
    const { dkimVerify } = await import('mailauth/lib/dkim/verify.js');
    const resolver = async (name: string): Promise<string[][]> => (name === record.name ? [record.strings] : []);
    for (const message of relayed) {
      const [result] = (await dkimVerify(message.raw, { resolver })).results;
      expect(result?.status.result, JSON.stringify(result?.status)).toBe('pass');
    }
  });

  it('dkim dns fails with a reason when the binding has no signer', async () => {
    const result = await cli('dkim', 'dns', '--binding', 'other.example');
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/binding other\.example has no dkim signer/);
  });
});

describe('producers (two tenants on one queue)', () => {
  it('explain names the producers of a binding; a message for a binding of another producer is dead-lettered as producer-not-allowed', async () => {
    // Act
    const [acme, globex] = await Promise.all([
      cli('config', 'explain', '--from', 'billing@acme.example', '--to', 'bob@example.net'),
      cli('config', 'explain', '--from', 'billing@globex.example', '--to', 'bob@example.net', '--json'),
    ]);
    const sent = await cli('enqueue', 'local/sample-other-producer.json');

    // Assess
    expect(acme.stdout).toMatch(/^Producers: 000000000000 \(binding#acme\.example; any other producer is refused: producer-not-allowed\)$/m);
    expect((JSON.parse(globex.stdout) as { producers: string[] }).producers).toEqual(['AROAGLOBEXPRODUCER0001']);
    expect(sent.code).toBe(0);
    const letter = await waitForDeadLetter('the other producer’s message in the DLQ', (l) => l.body.includes('billing@globex.example'));
    expect(letter.reason).toBe('producer-not-allowed');
    expect(letter.detail).toContain('producer 000000000000 may not send for binding globex.example');
  });
});

describe('check', () => {
  it('connects, STARTTLS, AUTH and QUIT, and says OK', async () => {
    // Act
    const result = await cli('check', '--from', 'billing@acme.example', '--to', 'alice@partner.example');

    // Assess
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('C: STARTTLS');
    expect(result.stdout).toContain('S: 220 Ready to start TLS');
    expect(result.stdout).toContain('C: AUTH LOGIN');
    expect(result.stdout).toContain('S: 235 Authentication successful');
    expect(result.stdout).toContain('C: QUIT');
    expect(result.stdout).toMatch(/^OK: 127\.0\.0\.1:\d+ with STARTTLS .*AUTH LOGIN as partner-user accepted; no mail sent$/m);
    expect(result.stdout).not.toContain('MAIL FROM');
    expectNoSecrets(result.stdout + result.stderr);
  });

  it('a failover list: explain shows each relay, check tries each in order and names the one that refused', async () => {
    // Prepare: the first relay refuses connections (a closed port), the second is the local relay.
    const closed = await new Promise<number>((resolve) => {
      const server = createServer();
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as AddressInfo;
        server.close(() => resolve(port));
      });
    });
    const item = file('failover.json', {
      scope: 'binding#failover.example',
      relay: [
        { host: '127.0.0.1', port: closed, timeoutSeconds: 3 },
        { host: stack.state.relay.host, port: stack.state.relay.port },
      ],
      auth: { type: 'LOGIN', user: 'partner-user', pass: { secret: 'mailrelay/partner' } },
    });
    expect((await cli('config', 'put', item)).code).toBe(0);

    // Act
    const explain = await cli('config', 'explain', '--from', 'billing@failover.example', '--to', 'x@elsewhere.example');
    const check = await cli('check', '--binding', 'failover.example', '--to', 'x@elsewhere.example');

    // Assess
    expect(explain.stdout).toMatch(new RegExp(`relay\\.port\\s+${closed}\\s+binding#failover\\.example`));
    expect(explain.stdout).toMatch(new RegExp(`relay\\[1\\]\\s+127\\.0\\.0\\.1:${stack.state.relay.port} starttls \\(failover\\)\\s+binding#failover\\.example`));
    expect(check.stdout).toContain('(relay 1 of 2)');
    expect(check.stdout).toContain('(relay 2 of 2, failover)');
    expect(check.stdout).toMatch(/FAILED: .*ECONNREFUSED/);
    expect(check.stdout).toMatch(/^OK: 127\.0\.0\.1:\d+ with STARTTLS .*AUTH LOGIN as partner-user accepted; no mail sent$/m);
    expect(check.code).toBe(1);
    await cli('config', 'delete', 'binding#failover.example');
  });

  it('fails with the relay\'s 535 reply when the password is wrong, and exits 1', async () => {
    // Prepare: the relay's password rotated; the secret still holds the old one
    stack.relay.setPassword('partner-user', 'rotated-elsewhere');
    try {
      // Act
      const [result, json] = await Promise.all([cli('check', '--to', 'alice@partner.example'), cli('check', '--binding', 'acme.example', '--json')]);

      // Assess
      expect(result.code).toBe(1);
      expect(result.stdout).toContain('S: 535 Error: Authentication credentials invalid');
      expect(result.stdout).toMatch(/^FAILED: 535 Error: Authentication credentials invalid$/m);
      expect(result.stdout).toContain('C: <password, hidden>');
      expectNoSecrets(result.stdout + result.stderr);
      // the binding alone routes by global + group + binding: PLAIN as demo, unaffected
      expect(json.code).toBe(0);
      expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, routes: [{ ok: true, label: expect.stringContaining('PLAIN') as unknown }] });
    } finally {
      stack.relay.setPassword('partner-user', 'partner-password');
    }
  });
});

/** The DLQ as `dlq list --json` shows it. */
interface DlqEntry {
  id: string;
  body: string;
  reason?: string;
  detail?: string;
  recipients: string[];
  sourceMessageId?: string;
}

/** Waits (in-process, no subprocess per poll) until the DLQ holds a matching entry. */
function waitForDeadLetter(what: string, match: (entry: DeadLetter) => boolean): Promise<DeadLetter> {
  return waitFor(
    what,
    async () => {
      const letters = await receiveDeadLetters(stack.sqs, stack.state.dlqUrl, { visibilitySeconds: 5 });
      await release(stack.sqs, stack.state.dlqUrl, letters);
      return letters.find(match);
    },
    20_000,
    250,
  );
}

describe('dlq', () => {
  it('lists a poison message with its reason and field path; redrive sends it through the queue again', async () => {
    // Prepare: a body the CLI would refuse, sent straight to the queue
    const poison = JSON.stringify({ from: 'billing@acme.example', to: ['not an address'], subject: 'poison', text: 'x' });
    const sent = await stack.sqs.send(new SendMessageCommand({ QueueUrl: stack.state.queueUrl, MessageBody: poison }));
    const letter = await waitForDeadLetter('the poison message in the DLQ', (l) => l.sourceMessageId === sent.MessageId);

    // Act
    // One after the other: a listing holds the DLQ's messages invisible while it reads them.
    const json = await cli('dlq', 'list', '--json');
    const text = await cli('dlq', 'list');
    const redrive = await cli('dlq', 'redrive', '--id', letter.id);

    // Assess
    expect(json.code).toBe(0);
    const entry = (JSON.parse(json.stdout) as { messages: DlqEntry[] }).messages.find((m) => m.id === letter.id);
    expect(entry).toMatchObject({ body: poison, reason: 'invalid-message', sourceMessageId: sent.MessageId });
    expect(entry!.detail).toContain('to[0]: must be an email address');
    expect(text.stdout).toMatch(new RegExp(`^${letter.id}  \\d+s ago  invalid-message$`, 'm'));
    expect(text.stdout).toMatch(/^ {2}detail\s+invalid message: to\[0\]/m);
    expect(redrive.code).toBe(0);
    const newId = /^redriven \S+ → (\S+)/m.exec(redrive.stdout)?.[1];
    expect(newId).toMatch(/^[0-9a-f-]{36}$/);
    // the worker received it from the main queue (under the new id) and dead-lettered it again
    const again = await waitForDeadLetter('the redriven message back in the DLQ', (l) => l.sourceMessageId === newId);
    expect(again.body).toBe(poison);
    expect(again.id).not.toBe(letter.id);
  });

  it('a listing while another reader holds every DLQ message says they are held, not that the DLQ is empty', async () => {
    // Prepare: a poison message in the DLQ, then hold all of it the way another `dlq list` does
    const sent = await stack.sqs.send(new SendMessageCommand({ QueueUrl: stack.state.queueUrl, MessageBody: JSON.stringify({ from: 'billing@acme.example', to: [], subject: 'held', text: 'x' }) }));
    await waitForDeadLetter('the held message in the DLQ', (l) => l.sourceMessageId === sent.MessageId);
    const held = await receiveDeadLetters(stack.sqs, stack.state.dlqUrl, { visibilitySeconds: 30 });
    try {
      // Act
      const text = await cli('dlq', 'list');
      const json = await cli('dlq', 'list', '--json');

      // Assess
      expect(text.code).toBe(0);
      expect(text.stdout).not.toContain('The DLQ is empty');
      expect(text.stdout).toMatch(new RegExp(`^No message of the DLQ is visible right now, but about ${held.length} messages? (is|are) in flight: received by another reader`, 'm'));
      expect(JSON.parse(json.stdout)).toMatchObject({ messages: [], heldElsewhere: held.length });
    } finally {
      await release(stack.sqs, stack.state.dlqUrl, held);
    }
  });

  it('a message dead-lettered for a missing secret is delivered once the secret exists and it is redriven', async () => {
    // Prepare: recipients at fixme.example need a secret nobody created yet
    const item = file('fixme.json', { scope: 'domain#fixme.example', auth: { type: 'PLAIN', user: 'fixme-user', pass: { secret: 'mailrelay/fixme' } } });
    const message = file('fixme-message.json', { from: 'billing@acme.example', to: ['carol@fixme.example'], subject: 'Fixed', text: 'hello' });
    expect((await cli('config', 'put', item)).code).toBe(0);
    expect((await cli('enqueue', message)).code).toBe(0);
    const letter = await waitForDeadLetter('the message in the DLQ', (l) => l.recipients.includes('carol@fixme.example'));
    expect(letter.reason).toBe('secret-missing');
    const before = stack.relay.messages.length;
    const entry = `${letter.sourceMessageId}/${letter.receiveCount}/${letter.failedAt}`;
    expect(redriveAttributes(letter)['mailrelay.deadLetterId']?.StringValue).toBe(entry);

    // Act: the operator creates the secret (and the relay knows the user), then redrives everything
    stack.secrets.setSecret('mailrelay/fixme', 'fixme-password');
    stack.relay.setPassword('fixme-user', 'fixme-password');
    const redrive = await cli('dlq', 'redrive');

    // Assess
    expect(redrive.code).toBe(0);
    expect(redrive.stdout).toContain(`redriven ${letter.id}`);
    const delivered = await stack.relay.waitForMessages(before + 1, 15_000);
    expect(delivered.find((m) => m.rcptTo.includes('carol@fixme.example'))).toMatchObject({ user: 'fixme-user', authMethod: 'PLAIN', secure: true });
    // The redrive carried the entry's id and the worker recorded it: another redrive of it is a duplicate.
    const traced = await waitFor('the delivered record', async () => {
      const r = await cliInProcess('trace', letter.idempotencyKey ?? letter.id, '--json');
      const doc = JSON.parse(r.stdout) as { records: { status: string; redrivenEntries?: string[] }[] };
      return doc.records[0]?.status === 'delivered' ? doc.records[0] : undefined;
    });
    expect(traced.redrivenEntries).toEqual([entry]);
    expect((await cliInProcess('trace', letter.idempotencyKey ?? letter.id)).stdout).toContain(`redriven   ${entry} (once dead-lettered, another redrive of these DLQ entries is a duplicate)`);
  });
});

describe('queue, trace, dlq show / purge', () => {
  it('trace shows a delivered message\'s record under its binding, and finds it without --binding', async () => {
    // Prepare
    const key = `trace-ok-${Date.now()}`;
    const message = file('trace-ok.json', { from: 'billing@acme.example', to: ['bob@example.net'], subject: 'Traced', text: 'hello', idempotencyKey: key });
    // a key that extends the traced one: its record's id contains `#${key}` too, and must not match
    const longer = file('trace-ok-2.json', { from: 'billing@acme.example', to: ['bob@example.net'], subject: 'Traced 2', text: 'hello', idempotencyKey: `${key}-2` });
    const before = stack.relay.messages.length;
    expect((await cliInProcess('enqueue', message, longer)).code).toBe(0);
    await stack.relay.waitForMessages(before + 2, 15_000);
    const settled = await waitFor('the delivered record', async () => {
      const r = await cliInProcess('trace', key, '--binding', 'acme.example', '--json');
      const doc = JSON.parse(r.stdout) as { records: { status: string }[] };
      return doc.records[0]?.status === 'delivered' ? doc : undefined;
    });

    // Act
    const text = await cliInProcess('trace', key, '--binding', 'acme.example');
    const anyBinding = await cliInProcess('trace', key, '--json');
    const otherBinding = await cliInProcess('trace', key, '--binding', 'globex.example');

    // Assess
    expect(settled.records[0]).toMatchObject({ id: `acme.example#${key}`, binding: 'acme.example', status: 'delivered', delivered: ['bob@example.net'], failed: [] });
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`^acme\\.example#${key}  delivered`, 'm'));
    expect(text.stdout).toMatch(/^ {2}delivered\s+bob@example\.net$/m);
    expect(text.stdout).toContain('<stack name>/message-history');
    expect(anyBinding.code).toBe(0);
    expect((JSON.parse(anyBinding.stdout) as { records: { id: string }[] }).records.map((r) => r.id)).toEqual([`acme.example#${key}`]);
    expect(otherBinding.code).toBe(1);
    expect(otherBinding.stderr).toContain(`no record of globex.example#${key}`);
  });

  it('a dead-lettered message: trace shows its failure and DLQ entry, dlq show prints it, purge needs --yes, then deletes it', async () => {
    // Prepare: recipients at nosecret.example need a secret that does not exist
    const key = `trace-dead-${Date.now()}`;
    const item = file('nosecret.json', { scope: 'domain#nosecret.example', auth: { type: 'PLAIN', user: 'nobody', pass: { secret: 'mailrelay/does-not-exist' } } });
    const message = file('trace-dead.json', { from: 'billing@acme.example', to: ['dave@nosecret.example'], subject: 'Dead', text: 'hello', idempotencyKey: key });
    expect((await cliInProcess('config', 'put', item)).code).toBe(0);
    expect((await cliInProcess('enqueue', message)).code).toBe(0);
    const letter = await waitForDeadLetter('the message in the DLQ', (l) => l.idempotencyKey === key);

    // Act
    const trace = await cliInProcess('trace', key, '--binding', 'acme.example', '--json');
    const show = await cliInProcess('dlq', 'show', letter.id);
    const showJson = await cliInProcess('dlq', 'show', letter.id, '--json');
    const queue = await cliInProcess('queue', '--json');
    const unconfirmed = await cliInProcess('dlq', 'purge', letter.id);
    const stillThere = await cliInProcess('dlq', 'show', letter.id);
    const purge = await cliInProcess('dlq', 'purge', letter.id, '--yes');
    const gone = await cliInProcess('dlq', 'show', letter.id);
    const both = await cliInProcess('dlq', 'purge', letter.id, '--all', '--yes');

    // Assess
    expect(trace.code).toBe(0);
    const doc = JSON.parse(trace.stdout) as { records: Record<string, unknown>[]; deadLetters: { id: string; reason: string }[] };
    expect(doc.records[0]).toMatchObject({ id: `acme.example#${key}`, status: 'dead-lettered', delivered: [], failure: { reason: 'secret-missing' } });
    expect(doc.deadLetters).toEqual([expect.objectContaining({ id: letter.id, reason: 'secret-missing' })]);
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(new RegExp(`^${letter.id}  secret-missing`, 'm'));
    expect(show.stdout).toMatch(/^ {2}recipients\s+dave@nosecret\.example$/m);
    expect(show.stdout).toContain('"subject": "Dead"');
    expect(JSON.parse(showJson.stdout)).toMatchObject({ id: letter.id, reason: 'secret-missing', idempotencyKey: key, body: { subject: 'Dead' } });
    expect(queue.code).toBe(0);
    expect(JSON.parse(queue.stdout)).toMatchObject({ queueUrl: stack.state.queueUrl, dlqUrl: stack.state.dlqUrl, oldestAgeSeconds: null });
    expect((JSON.parse(queue.stdout) as { dlqDepth: number }).dlqDepth).toBeGreaterThanOrEqual(1);
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.stdout).toContain(`would delete ${letter.id}`);
    expect(unconfirmed.stderr).toContain('add --yes');
    expect(stillThere.code).toBe(0);
    expect(purge.code).toBe(0);
    expect(purge.stdout).toContain(`deleted ${letter.id}`);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain(`not found in the DLQ: ${letter.id}`);
    expect(both.code).toBe(2);
  });

  it('--stack reads the queue URLs and table names from the stack outputs (DescribeStacks)', async () => {
    // Prepare: the stack's outputs name the stand-ins (the SDK reaches them through the
    // AWS_ENDPOINT_URL_* variables npm start's worker set in this process)
    const outputs = { QueueUrl: stack.state.queueUrl, DeadLetterQueueUrl: stack.state.dlqUrl, ConfigTableName: stack.state.configTable, IdempotencyTableName: stack.state.idempotencyTable };
    const cfn = mockClient(CloudFormationClient);
    cfn.on(DescribeStacksCommand, { StackName: 'mailrelay-test' }).resolves({
      Stacks: [{ StackName: 'mailrelay-test', StackStatus: 'UPDATE_COMPLETE', CreationTime: new Date(), Outputs: Object.entries(outputs).map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue })) }],
    });
    cfn.on(DescribeStacksCommand, { StackName: 'gone' }).rejects(Object.assign(new Error('Stack with id gone does not exist'), { name: 'ValidationError' }));
    const cw = mockClient(CloudWatchClient);
    cw.on(GetMetricDataCommand).resolves({ MetricDataResults: [{ Id: 'oldest', Values: [42, 17] }] });
    const run = async (...args: string[]) => {
      const out: string[] = [];
      const err: string[] = [];
      const code = await main(args, { io: { out: (l) => out.push(l), err: (l) => err.push(l) }, env: {} });
      return { code, stdout: out.join('\n'), stderr: err.join('\n') };
    };

    try {
      // Act
      const queue = await run('--stack', 'mailrelay-test', 'queue', '--json');
      const list = await run('config', 'list', '--stack', 'mailrelay-test');
      const missing = await run('--stack', 'gone', 'queue');
      const both = await run('--stack', 'mailrelay-test', '--local', 'queue');

      // Assess
      expect(queue.stderr).toBe('');
      expect(JSON.parse(queue.stdout)).toMatchObject({ queueUrl: stack.state.queueUrl, dlqUrl: stack.state.dlqUrl, oldestAgeSeconds: 42 });
      const metric = cw.commandCalls(GetMetricDataCommand)[0]!.args[0].input.MetricDataQueries![0]!.MetricStat!;
      expect(metric.Metric).toEqual({ Namespace: 'AWS/SQS', MetricName: 'ApproximateAgeOfOldestMessage', Dimensions: [{ Name: 'QueueName', Value: stack.state.queueUrl.split('/').pop() }] });
      expect(list.code).toBe(0);
      expect(list.stdout).toMatch(/^global\b/m);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain('stack gone not found');
      expect(both.code).toBe(2);
    } finally {
      cfn.restore();
      cw.restore();
    }
  });
});

/** The CLI in this process (same code as bin/mailrelay.js, without the subprocess): for the quick cases. */
async function cliInProcess(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['--local', '--state-file', stack.stateFile!, ...args], { io: { out: (l) => out.push(l), err: (l) => err.push(l) } });
  return { code, stdout: out.join('\n'), stderr: err.join('\n') };
}

describe('config put / get / list / delete', () => {
  it('refuses a file with an invalid item and writes none of it', async () => {
    // Prepare
    const items = file('mixed.json', [
      { scope: 'domain#ok.example', relay: { port: 2525 } },
      { scope: 'domain#bad.example', relay: { port: 70000, colour: 'red' } },
    ]);

    // Act
    const put = await cliInProcess('config', 'put', items);
    const get = await cliInProcess('config', 'get', 'domain#ok.example');

    // Assess
    expect(put.code).toBe(1);
    expect(put.stderr).toContain('[1] domain#bad.example: relay.port: must be 1-65535');
    expect(put.stderr).toContain('relay.colour');
    expect(put.stderr).toContain('Nothing written');
    expect(get.code).toBe(1);
  });

  it('puts, gets, lists and deletes an item', async () => {
    // Prepare
    const item = file('one.json', { scope: 'Domain#Roundtrip.Example', auth: { type: 'LOGIN', user: 'u', pass: { value: 'inline-secret' } } });

    // Act
    const put = await cliInProcess('config', 'put', item);
    const get = await cliInProcess('config', 'get', 'domain#roundtrip.example');
    const list = await cliInProcess('config', 'list');
    const del = await cliInProcess('config', 'delete', 'domain#roundtrip.example');
    const gone = await cliInProcess('config', 'get', 'domain#roundtrip.example');

    // Assess
    expect(put.code).toBe(0);
    expect(put.stdout).toContain('put domain#roundtrip.example');
    expect(get.code).toBe(0);
    const stored = JSON.parse(get.stdout) as { scope: string; updatedAt: string; auth: { pass: unknown } };
    expect(stored.scope).toBe('domain#roundtrip.example');
    expect(Date.parse(stored.updatedAt)).not.toBeNaN();
    expect(stored.auth.pass).toEqual({ value: '***' });
    expect(list.stdout).toMatch(/domain#roundtrip\.example\s+auth LOGIN user=u pass=value:\(inline\)/);
    expect(list.stdout).toMatch(/^global\s+relay 127\.0\.0\.1:\d+ starttls/m);
    expect(get.stdout + list.stdout).not.toContain('inline-secret');
    expect(del.code).toBe(0);
    expect(gone.code).toBe(1);
  });
});

describe('command line', () => {
  const capture = () => {
    const out: string[] = [];
    const err: string[] = [];
    return { io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) }, out, err };
  };

  it('prints help with exit 0, and usage errors with exit 2', async () => {
    const help = capture();
    const putHelp = capture();
    const unknown = capture();
    const missing = capture();
    const noTable = capture();

    expect(await main(['--help'], help)).toBe(0);
    expect(await main(['config', 'put', '--help'], putHelp)).toBe(0);
    expect(await main(['config', 'put', 'x.json', '--colour'], unknown)).toBe(2);
    expect(await main(['check'], missing)).toBe(2);
    expect(await main(["config", "list"], { io: noTable.io, env: {} })).toBe(2);

    expect(help.out.join('\n')).toMatch(/config explain\s+show the effective settings/);
    expect(putHelp.out.join('\n')).toContain('Usage: mailrelay config put FILE');
    expect(unknown.err.join('\n')).toContain("Unknown option '--colour'");
    expect(missing.err.join('\n')).toContain('give --to ADDR or --binding NAME');
    expect(noTable.err.join('\n')).toContain('MAILRELAY_CONFIG_TABLE');
  });
});

describe('npm start -- --once', () => {
  it('starts everything, relays the sample message and exits 0', async () => {
    // Act
    const result = await run('npm', ['start', '--silent', '--', '--once', '--state-file', join(dir, 'once.json')], { timeoutMs: 45_000, detached: true });

    // Assess
    expect(result.stderr).not.toMatch(/Error/);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/SMTP relay\s+127\.0\.0\.1:\d+\s+STARTTLS \+ AUTH PLAIN\/LOGIN required/);
    expect(result.stdout).toMatch(/^\[smtp-relay\] 250 from=<billing@acme\.example> to=<bob@example\.net> user=demo auth=PLAIN tls=yes/m);
    expect(result.stdout).toMatch(/^\[worker\] relayed\s+alice@partner\.example via 127\.0\.0\.1:\d+ starttls LOGIN user=partner-user: 250/m);
    expect(result.stdout).toContain('Stopping (--once)');
  }, 50_000);

  it('--json-logs prints the handler\'s JSON records, cold_start true on the first invocation, and its EMF metrics', async () => {
    // Act
    const result = await run('npm', ['start', '--silent', '--', '--once', '--json-logs', '--state-file', join(dir, 'once-json.json')], { timeoutMs: 45_000, detached: true });

    // Assess
    expect(result.code).toBe(0);
    const records = result.stdout.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>);
    const relayed = records.filter((r) => r['message'] === 'relayed');
    expect(relayed.length).toBe(2);
    expect(relayed.every((r) => r['cold_start'] === true && typeof r['function_request_id'] === 'string' && !('function_arn' in r))).toBe(true);
    const metrics = records.filter((r) => r['_aws'] !== undefined);
    expect(metrics.some((m) => m['ColdStart'] === 1)).toBe(true);
    // Delivered counts messages (the sample is one message with two recipients)
    expect(metrics.reduce((n, m) => n + (typeof m['Delivered'] === 'number' ? m['Delivered'] : 0), 0)).toBe(1);
  }, 50_000);
});

describe('routes', () => {
  it('lists each relay with its limits, the fleet’s leases and rate in use, throttling and suspension', async () => {
    // Prepare: a relay with fleet limits, and what two sandboxes would have written about it.
    const documents = DynamoDBDocumentClient.from(new DynamoDBClient(localAwsClientConfig(stack.state.endpoints.dynamodb, 1)));
    const table = stack.state.relayStateTable!;
    const now = Date.now();
    expect((await cliInProcess('config', 'put', file('limited.json', { scope: 'binding#limited', relay: { host: 'smtp.limited.example', port: 587 }, limits: { maxConnections: 3, messagesPerSecond: 2 } }))).code).toBe(0);
    const items = [
      { pk: 'lease#smtp.limited.example:587#0', holder: 'a/1', leaseExpiresAt: now + 30_000 },
      { pk: 'lease#smtp.limited.example:587#2', holder: 'b/1', leaseExpiresAt: now + 30_000 },
      { pk: 'lease#smtp.limited.example:587#1', holder: 'c/1', leaseExpiresAt: now - 1 },
      { pk: 'rate#smtp.limited.example:587', tat: now + 30_000, throttleLevel: 1, throttledAt: now - 5_000 },
      { pk: 'suspension#smtp.limited.example:587', until: now + 60_000, intervalMs: 60_000, reason: 'relay-throttled', detail: '421 4.7.0 too many connections', since: now - 1_000 },
    ];
    for (const Item of items) await documents.send(new PutCommand({ TableName: table, Item }));

    // Act
    const text = await cliInProcess('routes');
    const json = await cliInProcess('--json', 'routes');
    documents.destroy();

    // Assess: the lapsed lease does not count; the rate shows the burst spent; the throttle and the suspension are named.
    expect(text.code).toBe(0);
    const line = text.stdout.split('\n').find((l) => l.startsWith('smtp.limited.example:587'))!;
    expect(line).toContain('3 conns, 2 msg/s (binding#limited)');
    expect(line).toContain('2/3');
    expect(line).toMatch(/busy: \d+ sent/);
    expect(line).toContain('level 1 (rate ×1/2, 1 conn fewer)');
    expect(line).toMatch(/suspended for \d+ s \(relay-throttled: 421 4\.7\.0 too many connections\)/);
    const relay = (JSON.parse(json.stdout) as { relays: { relay: string; leasesInUse: number; maxConnections: number; throttleLevel: number }[] }).relays.find((r) => r.relay === 'smtp.limited.example:587');
    expect(relay).toMatchObject({ leasesInUse: 2, maxConnections: 3, throttleLevel: 1 });
    // The local relay of npm start is listed too, from the seeded config.
    expect(text.stdout).toMatch(/127\.0\.0\.1:\d+/);
  });
});
