/**
 * Rows: what the relay answers (smtp-server, scripted). 4xx anywhere is a deferral retried with
 * backoff; 5xx is final for the recipients it names; accepted recipients are never resent.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { attribute, expectLog, findLogs, mail, RELAY_PASSWORD, RELAY_USER } from '../helpers/faultHarness.js';
import type { RowKit } from '../helpers/rowKit.js';

const GROUP = 'relay';

export function relayReplyRows(kit: RowKit): void {
  describe('relay replies', () => {
    it('421 at greeting: deferred, retried with backoff, relayed once when the relay is back', async () => {
      // Prepare
      let down = true;
      const relay = await kit.smtp({ onConnect: () => (down ? { code: 421, message: '4.3.2 Service not available, closing channel' } : undefined) });
      await kit.route('r-greeting-421', relay.port);
      const mark = kit.h.mark();
      const visibilityChanges = kit.h.sqsProxy.count('AmazonSQS.ChangeMessageVisibility');
      await kit.h.world.enqueue([mail('greeting-421', { to: ['bob@example.net'], binding: 'r-greeting-421' })]);

      // Act
      const rounds = await kit.h.drive({ between: () => (down = false) });

      // Assess
      expect(rounds.map((r) => r.failed.length)).toEqual([1, 0]);
      expectLog(kit.h, mark, { message: 'deferred', idempotencyKey: 'greeting-421', reason: 'relay-unavailable', smtpCode: 421, receiveCount: 1 });
      expectLog(kit.h, mark, { message: 'relayed', idempotencyKey: 'greeting-421', receiveCount: 2 });
      // The backoff is the worker's ChangeMessageVisibility: retryIntervalSeconds (default 60 s) ± 20 % for a new message.
      expect(kit.h.sqsProxy.count('AmazonSQS.ChangeMessageVisibility')).toBe(visibilityChanges + 1);
      const change = JSON.parse(kit.h.sqsProxy.requests.filter((r) => r.target === 'AmazonSQS.ChangeMessageVisibility').at(-1)!.body) as { VisibilityTimeout: number };
      expect(change.VisibilityTimeout).toBeGreaterThanOrEqual(48);
      // The interval grows with the age (a few seconds here on a slow machine): 60 s + age, ±20 %.
      expect(change.VisibilityTimeout).toBeLessThanOrEqual(80);
      expect(kit.h.metricsSince(mark)).toMatchObject({ Deferred: 1, Delivered: 1 });
      expect(relay.messages.map((m) => m.rcptTo)).toEqual([['bob@example.net']]);
      await kit.finish({ group: GROUP, row: '421 at greeting', key: 'greeting-421', recipients: ['bob@example.net'], relays: [relay], rounds });
    });

    it('421 at MAIL FROM: deferred, then relayed once', async () => {
      let down = true;
      const relay = await kit.smtp({ onMailFrom: () => (down ? { code: 421, message: '4.7.0 Try again later, closing connection' } : undefined) });
      await kit.route('r-mail-421', relay.port);
      const mark = kit.h.mark();
      await kit.h.world.enqueue([mail('mail-421', { to: ['bob@example.net'], binding: 'r-mail-421' })]);

      const rounds = await kit.h.drive({ between: () => (down = false) });

      expect(rounds.map((r) => r.failed.length)).toEqual([1, 0]);
      expectLog(kit.h, mark, { message: 'deferred', idempotencyKey: 'mail-421', reason: 'relay-throttled', smtpCode: 421 });
      expect(relay.messages.map((m) => m.rcptTo)).toEqual([['bob@example.net']]);
      await kit.finish({ group: GROUP, row: '421 at MAIL FROM', key: 'mail-421', recipients: ['bob@example.net'], relays: [relay], rounds });
    });

    it('421 at RCPT TO: deferred, then relayed once', async () => {
      let down = true;
      const relay = await kit.smtp({ onRcptTo: () => (down ? { code: 421, message: '4.4.5 System busy, closing connection' } : undefined) });
      await kit.route('r-rcpt-421', relay.port);
      const mark = kit.h.mark();
      await kit.h.world.enqueue([mail('rcpt-421', { to: ['bob@example.net', 'carol@example.net'], binding: 'r-rcpt-421' })]);

      const rounds = await kit.h.drive({ between: () => (down = false) });

      expect(rounds.map((r) => r.failed.length)).toEqual([1, 0]);
      expectLog(kit.h, mark, { message: 'deferred', idempotencyKey: 'rcpt-421', recipient: 'bob@example.net', smtpCode: 421 });
      expect(relay.messages.map((m) => m.rcptTo)).toEqual([['bob@example.net', 'carol@example.net']]);
      await kit.finish({ group: GROUP, row: '421 at RCPT TO', key: 'rcpt-421', recipients: ['bob@example.net', 'carol@example.net'], relays: [relay], rounds });
    });

    it('421 after DATA: deferred (the relay refused the content), then relayed once', async () => {
      let down = true;
      const relay = await kit.smtp({ onData: () => (down ? { code: 421, message: '4.3.0 Queue full, closing connection' } : undefined) });
      await kit.route('r-data-421', relay.port);
      const mark = kit.h.mark();
      await kit.h.world.enqueue([mail('data-421', { to: ['bob@example.net'], binding: 'r-data-421' })]);

      const rounds = await kit.h.drive({ between: () => (down = false) });

      expect(rounds.map((r) => r.failed.length)).toEqual([1, 0]);
      expectLog(kit.h, mark, { message: 'deferred', idempotencyKey: 'data-421', reason: 'relay-unavailable', smtpCode: 421 });
      expect(relay.rejectedMessages.map((m) => m.reply.code)).toEqual([421]);
      expect(relay.messages.map((m) => m.rcptTo)).toEqual([['bob@example.net']]);
      await kit.finish({ group: GROUP, row: '421 after DATA', key: 'data-421', recipients: ['bob@example.net'], relays: [relay], rounds });
    });

    it('450 / 451 / 452 per recipient: the accepted one is relayed at once and never resent; the deferred ones follow', async () => {
      // Prepare
      let busy = true;
      const codes: Record<string, number> = { 'mailbox450@example.net': 450, 'local451@example.net': 451, 'storage452@example.net': 452 };
      const relay = await kit.smtp({ onRcptTo: (address) => (busy && codes[address] ? { code: codes[address]!, message: `4.x.x deferred (${codes[address]})` } : undefined) });
      await kit.route('r-rcpt-4xx', relay.port);
      const to = ['ok@example.net', ...Object.keys(codes)];
      const mark = kit.h.mark();
      await kit.h.world.enqueue([mail('rcpt-4xx', { to, binding: 'r-rcpt-4xx' })]);

      // Act: one round with the deferrals, then the relay accepts everyone.
      const first = await kit.h.invoke();
      const state = await kit.h.world.documents.send(new GetCommand({ TableName: kit.h.world.idempotencyTable, Key: { id: 'r-rcpt-4xx#rcpt-4xx' } }));
      busy = false;
      const rest = await kit.h.drive();

      // Assess
      expect(first.failed).toHaveLength(1);
      expect(state.Item).toMatchObject({ status: 'pending', delivered: ['ok@example.net'], failed: [] });
      for (const [recipient, code] of Object.entries(codes)) {
        expectLog(kit.h, mark, { message: 'deferred', idempotencyKey: 'rcpt-4xx', recipient, smtpCode: code, reason: 'smtp-transient' });
      }
      expect(relay.messages.map((m) => m.rcptTo)).toEqual([['ok@example.net'], Object.keys(codes)]);
      await kit.finish({ group: GROUP, row: '450/451/452 per recipient', key: 'rcpt-4xx', recipients: to, relays: [relay], rounds: [first, ...rest] });
    });

    it('452 too many recipients: split and continue on the same connection, nobody twice', async () => {
      // Prepare: the relay takes at most 2 recipients per transaction (RFC 5321 4.5.3.1.10).
      const relay = await kit.smtp({ onRcptTo: (_address, session) => (session.rcptTo.length >= 2 ? { code: 452, message: '4.5.3 Too many recipients' } : undefined) });
      await kit.route('r-too-many', relay.port);
      const to = ['r1@example.net', 'r2@example.net', 'r3@example.net', 'r4@example.net'];
      const mark = kit.h.mark();
      await kit.h.world.enqueue([mail('too-many', { to, binding: 'r-too-many' })]);

      // Act
      const rounds = await kit.h.drive();

      // Assess: the 452-deferred recipients go in the next transaction at once, one connection.
      expect(rounds.map((r) => r.failed.length)).toEqual([0]);
      expect(relay.messages.map((m) => m.rcptTo)).toEqual([
        ['r1@example.net', 'r2@example.net'],
        ['r3@example.net', 'r4@example.net'],
      ]);
      expect(relay.connectionCount).toBe(1);
      expectLog(kit.h, mark, { message: 'relayed', idempotencyKey: 'too-many', recipient: 'r3@example.net' });
      expect(findLogs(kit.h, mark, { message: 'deferred' })).toEqual([]);
      await kit.finish({
        group: GROUP,
        row: '452 too many recipients',
        key: 'too-many',
        recipients: to,
        relays: [relay],
        rounds,
        note: 'split into transactions of 2 on one connection',
      });
    });

    it('535 after a secret rotation: one forced re-read of the secret, relayed in the same invocation', async () => {
      // Prepare: a route with its own secret, one message per connection (so each message authenticates).
      const secret = 'mailrelay/rotating';
      kit.h.world.secrets.setSecret(secret, JSON.stringify({ username: RELAY_USER, password: RELAY_PASSWORD }));
      const relay = await kit.smtp();
      await kit.route('r-rotation', relay.port, { auth: { pass: { secret } }, limits: { maxMessagesPerConnection: 1 } });
      await kit.h.world.enqueue([mail('rotation-before', { to: ['bob@example.net'], binding: 'r-rotation' })]);
      await kit.h.drive();
      // The password rotates on the relay and in Secrets Manager; the worker still caches the old one.
      const rotated = 'Rotated-Pw-9d2c4e6a';
      relay.setPassword(RELAY_USER, rotated);
      kit.h.world.secrets.setSecret(secret, JSON.stringify({ username: RELAY_USER, password: rotated }));
      const reads = kit.h.world.secrets.countRequests('secretsmanager.GetSecretValue', secret);
      const mark = kit.h.mark();
      await kit.h.world.enqueue([mail('rotation', { to: ['bob@example.net'], binding: 'r-rotation' })]);

      // Act
      const rounds = await kit.h.drive();

      // Assess
      expect(rounds.map((r) => r.failed.length)).toEqual([0]);
      expect(relay.authAttempts.map((a) => [a.credentialsValid, a.replyCode])).toEqual([
        [true, 235],
        [false, 535],
        [true, 235],
      ]);
      expect(kit.h.world.secrets.countRequests('secretsmanager.GetSecretValue', secret)).toBe(reads + 1);
      expectLog(kit.h, mark, { message: 'authentication failed; retried once with re-read credentials', idempotencyKey: 'rotation', mechanism: 'PLAIN' });
      expectLog(kit.h, mark, { message: 'relayed', idempotencyKey: 'rotation', mechanism: 'PLAIN' });
      expect(findLogs(kit.h, mark, { message: 'deferred' })).toEqual([]);
      await kit.finish({ group: GROUP, row: '535, then success after rotation', key: 'rotation', recipients: ['bob@example.net'], relays: [relay], rounds });
    });

    it('530 authentication required: one forced re-read, then deferred as auth-failed (never lost), relayed once fixed', async () => {
      let refuse = true;
      const relay = await kit.smtp({ onMailFrom: () => (refuse ? { code: 530, message: '5.7.0 Authentication required' } : undefined) });
      await kit.route('r-530', relay.port);
      const reads = kit.h.world.secrets.countRequests('secretsmanager.GetSecretValue');
      const mark = kit.h.mark();
      await kit.h.world.enqueue([mail('auth-530', { to: ['bob@example.net'], binding: 'r-530' })]);

      const rounds = await kit.h.drive({ between: () => (refuse = false) });

      expect(rounds.map((r) => r.failed.length)).toEqual([1, 0]);
      expectLog(kit.h, mark, { message: 'deferred', idempotencyKey: 'auth-530', reason: 'auth-failed', smtpCode: 530 });
      expect(kit.h.metricsSince(mark)).toMatchObject({ AuthFailed: 1, Deferred: 1, Delivered: 1 });
      // The one forced refresh after the authentication failure.
      expect(kit.h.world.secrets.countRequests('secretsmanager.GetSecretValue')).toBeGreaterThan(reads);
      expect(relay.messages.map((m) => m.rcptTo)).toEqual([['bob@example.net']]);
      await kit.finish({ group: GROUP, row: '530 authentication required', key: 'auth-530', recipients: ['bob@example.net'], relays: [relay], rounds });
    });

    it('554 at the end of DATA: dead-lettered at once with the reply, nothing relayed', async () => {
      const relay = await kit.smtp({ onData: () => ({ code: 554, message: '5.7.1 Message rejected as spam' }) });
      await kit.route('r-data-554', relay.port);
      const mark = kit.h.mark();
      await kit.h.world.enqueue([mail('data-554', { to: ['bob@example.net'], binding: 'r-data-554' })]);

      const rounds = await kit.h.drive();

      expect(rounds.map((r) => r.failed.length)).toEqual([0]);
      const [entry] = await kit.h.dlqFor('data-554');
      expect(attribute(entry, 'mailrelay.reason')).toBe('policy-refused');
      expect(attribute(entry, 'mailrelay.smtpCode')).toBe('554');
      expect(attribute(entry, 'mailrelay.smtpReply')).toContain('rejected as spam');
      expect(attribute(entry, 'mailrelay.route')).toBe(`127.0.0.1:${relay.port} starttls PLAIN user=(from secret)`);
      expect(JSON.parse(entry?.Body ?? '{}')).toMatchObject({ idempotencyKey: 'data-554' });
      expectLog(kit.h, mark, { message: 'dead-lettered', idempotencyKey: 'data-554', reason: 'policy-refused', smtpCode: 554 });
      expect(kit.h.metricsSince(mark)).toMatchObject({ Failed: 1, DeadLettered: 1 });
      expect(relay.messages).toEqual([]);
      await kit.finish({ group: GROUP, row: '554 at DATA end', key: 'data-554', recipients: ['bob@example.net'], relays: [relay], rounds });
    });

    it('every recipient refused at RCPT, then the next message reuses the pooled connection: relayed, not a 503 "nested MAIL"', async () => {
      // Prepare: one connection for the route, so both messages share it (within the 2 s probe window).
      const relay = await kit.smtp({ onRcptTo: (address) => (address === 'gone@example.net' ? { code: 550, message: '5.1.1 No such user' } : undefined) });
      await kit.route('r-all-refused-reuse', relay.port, { limits: { maxConnections: 1 } });
      await kit.h.world.enqueue([mail('all-refused', { to: ['gone@example.net'], binding: 'r-all-refused-reuse' })]);
      const first = await kit.h.drive();
      const mark = kit.h.mark();
      await kit.h.world.enqueue([mail('after-all-refused', { to: ['bob@example.net'], binding: 'r-all-refused-reuse' })]);

      // Act
      const rounds = await kit.h.drive();

      // Assess: one connection; the refused transaction was ended with RSET before the next MAIL FROM.
      expect([...first, ...rounds].map((r) => r.failed.length)).toEqual([0, 0]);
      expect(attribute((await kit.h.dlqFor('all-refused'))[0], 'mailrelay.reason')).toBe('unknown-recipient');
      expect(relay.connectionCount).toBe(1);
      expect(relay.commands.slice(relay.commands.indexOf('RCPT')).slice(-4)).toEqual(['RSET', 'MAIL', 'RCPT', 'DATA']);
      expectLog(kit.h, mark, { message: 'relayed', idempotencyKey: 'after-all-refused' });
      expect(relay.messages.map((m) => m.rcptTo)).toEqual([['bob@example.net']]);
      await kit.finish({ group: GROUP, row: 'all rcpts refused, then connection reused', key: 'all-refused', recipients: ['gone@example.net'], relays: [relay], rounds: first });
      await kit.finish({ group: GROUP, row: 'all rcpts refused, next message', key: 'after-all-refused', recipients: ['bob@example.net'], relays: [relay], rounds });
    });

    it('5xx for one of three recipients: two relayed, the DLQ names only the third; a redrive sends only to it', async () => {
      // Prepare
      let unknownUser = true;
      const relay = await kit.smtp({ onRcptTo: (address) => (unknownUser && address === 'gone@example.net' ? { code: 550, message: '5.1.1 No such user' } : undefined) });
      await kit.route('r-one-of-three', relay.port);
      const to = ['a@example.net', 'gone@example.net', 'c@example.net'];
      const mark = kit.h.mark();
      await kit.h.world.enqueue([mail('one-of-three', { to, binding: 'r-one-of-three' })]);

      // Act
      const rounds = await kit.h.drive();
      const [entry] = await kit.h.dlqFor('one-of-three');
      // The operator fixes the mailbox and redrives.
      unknownUser = false;
      expect(await kit.h.redrive('one-of-three')).toBe(1);
      const redriven = await kit.h.drive();

      // Assess
      expect(rounds.map((r) => r.failed.length)).toEqual([0]);
      expect(attribute(entry, 'mailrelay.reason')).toBe('unknown-recipient');
      expect(attribute(entry, 'mailrelay.smtpCode')).toBe('550');
      expect(JSON.parse(attribute(entry, 'mailrelay.recipients') ?? '[]')).toEqual(['gone@example.net']);
      expectLog(kit.h, mark, { message: 'rejected', idempotencyKey: 'one-of-three', recipient: 'gone@example.net', smtpCode: 550 });
      expect(relay.messages.map((m) => m.rcptTo)).toEqual([['a@example.net', 'c@example.net'], ['gone@example.net']]);
      await kit.finish({
        group: GROUP,
        row: '5xx for one of three recipients',
        key: 'one-of-three',
        recipients: to,
        relays: [relay],
        rounds: [...rounds, ...redriven],
        outcome: '2 relayed once, 1 DLQ unknown-recipient; redrive sent only that one',
      });
    });
  });
}
