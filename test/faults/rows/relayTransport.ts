/**
 * Rows: the transport breaks (the raw-socket relay, local/rawSmtpServer.ts, for what smtp-server
 * cannot script; smtp-server for certificates, idle timeouts and SIZE). A broken transport is a
 * deferral; a reply that never came after the final "." is the ambiguous case (see the README, "Fault handling").
 */
import { describe, expect, it } from 'vitest';
import type { RawSmtpAction, RawSmtpPhase } from '../../../local/rawSmtpServer.js';
import { attribute, expectLog, findLogs, mail, MAX_RECEIVE_COUNT } from '../helpers/faultHarness.js';
import type { RowKit } from '../helpers/rowKit.js';

const GROUP = 'network';

/** A script that misbehaves at `phase` until `healed()` says otherwise. */
const faultAt =
  (phase: RawSmtpPhase, action: RawSmtpAction, active: () => boolean) =>
  (at: RawSmtpPhase): RawSmtpAction | undefined =>
    at === phase && active() ? action : undefined;

export function relayTransportRows(kit: RowKit): void {
  describe('transport faults', () => {
    it('the relay closes the connection mid-DATA: deferred, relayed once on the retry', async () => {
      let broken = true;
      const relay = await kit.raw({ script: faultAt('data-body', { kind: 'close' }, () => broken) });
      await kit.route('t-close-mid-data', relay.port);
      const mark = kit.h.mark();
      await kit.h.world.enqueue([mail('close-mid-data', { to: ['bob@example.net'], binding: 't-close-mid-data' })]);

      const rounds = await kit.h.drive({ between: () => (broken = false) });

      expect(rounds.map((r) => r.failed.length)).toEqual([1, 0]);
      expectLog(kit.h, mark, { message: 'deferred', idempotencyKey: 'close-mid-data', reason: 'connection' });
      // The first copy never reached the final ".": the relay holds exactly one message.
      expect(relay.received).toHaveLength(1);
      expect(relay.accepted.map((m) => m.rcptTo)).toEqual([['bob@example.net']]);
      await kit.finish({ group: GROUP, row: 'connection closed mid-DATA', key: 'close-mid-data', recipients: ['bob@example.net'], relays: [relay], rounds });
    });

    it('reset after the final "." before the reply (ambiguous): deferred and sent again; the relay answered 250 once', async () => {
      let broken = true;
      const relay = await kit.raw({ script: faultAt('data-end', { kind: 'reset' }, () => broken) });
      await kit.route('t-reset-after-dot', relay.port);
      const mark = kit.h.mark();
      await kit.h.world.enqueue([mail('reset-after-dot', { to: ['bob@example.net'], binding: 't-reset-after-dot' })]);

      const rounds = await kit.h.drive({ between: () => (broken = false) });

      expect(rounds.map((r) => r.failed.length)).toEqual([1, 0]);
      expectLog(kit.h, mark, { message: 'deferred', idempotencyKey: 'reset-after-dot', reason: 'connection' });
      // Not retried at once in the same invocation: only the queue's retry sends it again.
      expect(relay.received.map((m) => m.replyCode)).toEqual([undefined, 250]);
      expect(relay.accepted).toHaveLength(1);
      await kit.finish({
        group: GROUP,
        row: 'reset after final "." (ambiguous)',
        key: 'reset-after-dot',
        recipients: ['bob@example.net'],
        relays: [relay],
        rounds,
        note: 'relay got 2 copies, acknowledged 1: a duplicate if it kept the first',
      });
    });

    it('the greeting never comes: timed out (relay.timeoutSeconds), deferred, then relayed once', async () => {
      let broken = true;
      const relay = await kit.raw({ script: faultAt('connect', { kind: 'silent' }, () => broken) });
      await kit.route('t-no-greeting', relay.port, { relay: { timeoutSeconds: 1 } });
      const mark = kit.h.mark();
      await kit.h.world.enqueue([mail('no-greeting', { to: ['bob@example.net'], binding: 't-no-greeting' })]);

      const rounds = await kit.h.drive({ between: () => (broken = false) });

      expect(rounds.map((r) => r.failed.length)).toEqual([1, 0]);
      expectLog(kit.h, mark, { message: 'deferred', idempotencyKey: 'no-greeting', reason: 'timeout' });
      expect(relay.accepted.map((m) => m.rcptTo)).toEqual([['bob@example.net']]);
      await kit.finish({ group: GROUP, row: 'greeting never sent', key: 'no-greeting', recipients: ['bob@example.net'], relays: [relay], rounds });
    });

    it('the relay stalls mid-DATA past the timeout: deferred, then relayed once', async () => {
      let broken = true;
      const relay = await kit.raw({ script: faultAt('data-body', { kind: 'silent' }, () => broken) });
      await kit.route('t-stall-data', relay.port, { relay: { timeoutSeconds: 1 } });
      const mark = kit.h.mark();
      await kit.h.world.enqueue([mail('stall-data', { to: ['bob@example.net'], binding: 't-stall-data' })]);

      const rounds = await kit.h.drive({ between: () => (broken = false) });

      expect(rounds.map((r) => r.failed.length)).toEqual([1, 0]);
      expectLog(kit.h, mark, { message: 'deferred', idempotencyKey: 'stall-data', reason: 'timeout' });
      expect(relay.received).toHaveLength(1);
      expect(relay.accepted.map((m) => m.rcptTo)).toEqual([['bob@example.net']]);
      await kit.finish({ group: GROUP, row: 'stall mid-DATA past the timeout', key: 'stall-data', recipients: ['bob@example.net'], relays: [relay], rounds });
    });

    it('TLS handshake failure after STARTTLS: deferred, no credentials sent, then relayed once', async () => {
      let broken = true;
      const relay = await kit.raw({ script: faultAt('starttls', { kind: 'not-tls' }, () => broken) });
      await kit.route('t-tls-handshake', relay.port);
      const mark = kit.h.mark();
      await kit.h.world.enqueue([mail('tls-handshake', { to: ['bob@example.net'], binding: 't-tls-handshake' })]);

      const rounds = await kit.h.drive({ between: () => (broken = false) });

      expect(rounds.map((r) => r.failed.length)).toEqual([1, 0]);
      expectLog(kit.h, mark, { message: 'deferred', idempotencyKey: 'tls-handshake', reason: 'connection' });
      // The broken connection never got past STARTTLS.
      expect(relay.transcript.filter((l) => l.startsWith('#1 '))).toEqual(['#1 EHLO acme.example', '#1 STARTTLS']);
      expect(relay.accepted.map((m) => m.rcptTo)).toEqual([['bob@example.net']]);
      await kit.finish({ group: GROUP, row: 'TLS handshake failure', key: 'tls-handshake', recipients: ['bob@example.net'], relays: [relay], rounds });
    });

    it('certificate for the wrong host: never authenticated, retried, dead-lettered with the reason after maxReceiveCount', async () => {
      const relay = await kit.smtp({ cert: 'wrong-host' });
      await kit.route('t-wrong-cert', relay.port);
      const mark = kit.h.mark();
      await kit.h.world.enqueue([mail('wrong-cert', { to: ['bob@example.net'], binding: 't-wrong-cert' })]);

      const rounds = await kit.h.drive();

      expect(rounds.map((r) => r.failed.length)).toEqual([1, 1, 0]);
      const deferred = expectLog(kit.h, mark, { message: 'deferred', idempotencyKey: 'wrong-cert', reason: 'connection' });
      expect(String(deferred['detail'])).toMatch(/altnames|certificate/i);
      const [entry] = await kit.h.dlqFor('wrong-cert');
      expect(attribute(entry, 'mailrelay.reason')).toBe('retries-exhausted:connection');
      expect(attribute(entry, 'mailrelay.receiveCount')).toBe(String(MAX_RECEIVE_COUNT));
      expect(attribute(entry, 'mailrelay.detail')).toMatch(/altnames|certificate/i);
      expect(relay.commands).not.toContain('AUTH');
      expect(relay.commands).not.toContain('MAIL');
      await kit.finish({ group: GROUP, row: 'certificate for the wrong host', key: 'wrong-cert', recipients: ['bob@example.net'], relays: [relay], rounds });
    });

    it('STARTTLS advertised but refused with 454: deferred (never sent in the clear), then relayed once', async () => {
      let broken = true;
      const relay = await kit.raw({ script: faultAt('starttls', { kind: 'reply', code: 454, text: '4.7.0 TLS not available due to temporary reason' }, () => broken) });
      await kit.route('t-starttls-454', relay.port);
      const mark = kit.h.mark();
      await kit.h.world.enqueue([mail('starttls-454', { to: ['bob@example.net'], binding: 't-starttls-454' })]);

      const rounds = await kit.h.drive({ between: () => (broken = false) });

      expect(rounds.map((r) => r.failed.length)).toEqual([1, 0]);
      expectLog(kit.h, mark, { message: 'deferred', idempotencyKey: 'starttls-454', reason: 'connection', smtpCode: 454 });
      expect(relay.transcript.filter((l) => l.startsWith('#1 '))).not.toContainEqual(expect.stringMatching(/^#1 (AUTH|MAIL)/));
      expect(relay.accepted.map((m) => m.rcptTo)).toEqual([['bob@example.net']]);
      await kit.finish({ group: GROUP, row: 'STARTTLS advertised, refused 454', key: 'starttls-454', recipients: ['bob@example.net'], relays: [relay], rounds });
    });

    it('a pooled connection the relay closed while idle is replaced: the next message does not fail', async () => {
      // Prepare: smtp-server closes idle connections after 1.5 s (421 + close) — long enough that
      // TLS setup on a loaded machine never trips it, short enough to wait for.
      const relay = await kit.smtp({ socketTimeoutMs: 1_500 });
      await kit.route('t-idle-close', relay.port);
      await kit.h.world.enqueue([mail('idle-close-1', { to: ['bob@example.net'], binding: 't-idle-close' })]);
      const first = await kit.h.drive();
      for (let i = 0; i < 200 && !relay.sessions[0]?.closed; i++) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(relay.sessions[0]?.closed).toBe(true);
      const mark = kit.h.mark();
      await kit.h.world.enqueue([mail('idle-close-2', { to: ['bob@example.net'], binding: 't-idle-close' })]);

      // Act
      const rounds = await kit.h.drive();

      // Assess
      expect([...first, ...rounds].map((r) => r.failed.length)).toEqual([0, 0]);
      expect(findLogs(kit.h, mark, { message: 'deferred' })).toEqual([]);
      expect(relay.connectionCount).toBe(2);
      expect(relay.messages).toHaveLength(2);
      await kit.finish({ group: GROUP, row: 'pooled connection closed while idle', key: 'idle-close-2', recipients: ['bob@example.net'], relays: [relay], rounds });
    });

    it('a pooled connection that dies just as it is reused (close at MAIL FROM): replaced at once, the message does not fail', async () => {
      // Prepare: the relay drops connection 1 when its second transaction starts, without a reply.
      const relay = await kit.raw({ script: (phase, at) => (phase === 'mail' && at.connection === 1 && at.transaction === 2 ? { kind: 'close' } : undefined) });
      await kit.route('t-reuse-close', relay.port);
      await kit.h.world.enqueue([mail('reuse-close-1', { to: ['bob@example.net'], binding: 't-reuse-close' })]);
      const first = await kit.h.drive();
      const mark = kit.h.mark();
      await kit.h.world.enqueue([mail('reuse-close-2', { to: ['bob@example.net'], binding: 't-reuse-close' })]);

      // Act
      const rounds = await kit.h.drive();

      // Assess
      expect([...first, ...rounds].map((r) => r.failed.length)).toEqual([0, 0]);
      expect(findLogs(kit.h, mark, { message: 'deferred' })).toEqual([]);
      expect(relay.connectionCount).toBe(2);
      expect(relay.accepted.map((m) => m.connection)).toEqual([1, 2]);
      await kit.finish({ group: GROUP, row: 'pooled connection dies as it is reused', key: 'reuse-close-2', recipients: ['bob@example.net'], relays: [relay], rounds });
    });

    it('a relay that closes the connection right after each 250: the next message of the batch takes a fresh one', async () => {
      // Prepare: one connection for the route, so the second message waits for the first one's session.
      const relay = await kit.raw({ script: (phase) => (phase === 'data-end' ? { kind: 'reply', code: 250, text: '2.0.0 queued, bye', close: true } : undefined) });
      await kit.route('t-close-after-250', relay.port, { limits: { maxConnections: 1 } });
      const mark = kit.h.mark();
      const to = ['bob@example.net'];
      await kit.h.world.enqueue([mail('close-after-250-1', { to, binding: 't-close-after-250' }), mail('close-after-250-2', { to, binding: 't-close-after-250' })]);

      // Act
      const rounds = await kit.h.drive();

      // Assess
      expect(rounds.map((r) => [r.received, r.failed.length])).toEqual([[2, 0]]);
      expect(findLogs(kit.h, mark, { message: 'deferred' })).toEqual([]);
      expect(relay.accepted.map((m) => m.connection)).toEqual([1, 2]);
      await kit.finish({ group: GROUP, row: 'relay closes after each 250', key: 'close-after-250-1', recipients: to, relays: [relay], rounds });
      await kit.finish({ group: GROUP, row: 'relay closes after each 250 (next msg)', key: 'close-after-250-2', recipients: to, relays: [relay], rounds });
    });

    it('EHLO SIZE smaller than the message: dead-lettered as message-too-large before MAIL FROM', async () => {
      const relay = await kit.smtp({ size: 2_000 });
      await kit.route('t-size', relay.port);
      const mark = kit.h.mark();
      await kit.h.world.enqueue([mail('too-large', { to: ['bob@example.net'], binding: 't-size', text: 'x'.repeat(70).concat('\n').repeat(80) })]);

      const rounds = await kit.h.drive();

      expect(rounds.map((r) => r.failed.length)).toEqual([0]);
      const [entry] = await kit.h.dlqFor('too-large');
      expect(attribute(entry, 'mailrelay.reason')).toBe('message-too-large');
      expect(attribute(entry, 'mailrelay.detail')).toMatch(/2000 bytes/);
      expectLog(kit.h, mark, { message: 'dead-lettered', idempotencyKey: 'too-large', reason: 'message-too-large' });
      expect(relay.commands).not.toContain('MAIL');
      expect(relay.messages).toEqual([]);
      await kit.finish({ group: GROUP, row: 'EHLO SIZE smaller than the message', key: 'too-large', recipients: ['bob@example.net'], relays: [relay], rounds });
    });
  });
}
