/**
 * Rows: where a recipient's fate was recorded wrong (issue 21, found by a chaos run). A
 * producer's copy of a dead-lettered key is a duplicate — no relay contact, no second DLQ entry —
 * while a redrive still gives the refused recipient one more chance; a RCPT refusal stands even
 * when the same transaction breaks after DATA.
 */
import { describe, expect, it } from 'vitest';
import { attribute, expectLog, findLogs, mail } from '../helpers/faultHarness.js';
import type { RowKit } from '../helpers/rowKit.js';

const GROUP = 'fate';

export function recipientFateRows(kit: RowKit): void {
  describe('recipient fate', () => {
    it('a producer’s duplicate of a dead-lettered key: acknowledged as duplicate, relay not asked, one DLQ entry; a redrive asks once more', async () => {
      // Prepare: r2 is refused for good, r0 and r1 are taken.
      const relay = await kit.smtp({ onRcptTo: (address) => (address === 'r2@example.net' ? { code: 550, message: '5.1.1 No such user' } : undefined) });
      await kit.route('f-dup-after-dlq', relay.port);
      const to = ['r0@example.net', 'r1@example.net', 'r2@example.net'];
      const mark = kit.h.mark();
      await kit.h.world.enqueue([mail('dup-after-dlq', { to, binding: 'f-dup-after-dlq' })]);
      const first = await kit.h.drive();
      const rcptsAfterFirst = relay.commands.filter((c) => c === 'RCPT').length;

      // Act: the producer sends the same key again (no redrive attribute).
      await kit.h.world.enqueue([mail('dup-after-dlq', { to, binding: 'f-dup-after-dlq' })]);
      const duplicate = await kit.h.drive();

      // Assess: acknowledged, not sent, not dead-lettered again.
      expect([...first, ...duplicate].map((r) => r.failed.length)).toEqual([0, 0]);
      expect(relay.commands.filter((c) => c === 'RCPT')).toHaveLength(rcptsAfterFirst);
      expectLog(kit.h, mark, { message: 'duplicate: already dead-lettered (a redrive carries mailrelay.idempotencyKey)', idempotencyKey: 'dup-after-dlq', previousStatus: 'dead-lettered' });
      expect(findLogs(kit.h, mark, { message: 'dead-lettered', idempotencyKey: 'dup-after-dlq' })).toHaveLength(1);
      const entries = await kit.h.dlqFor('dup-after-dlq');
      expect(entries).toHaveLength(1);
      expect(JSON.parse(attribute(entries[0], 'mailrelay.recipients') ?? '[]')).toEqual(['r2@example.net']);

      // A redrive (the key attribute) asks the relay for r2 once more, and only for r2.
      const redriveMark = kit.h.mark();
      expect(await kit.h.redrive('dup-after-dlq')).toBe(1);
      const redriven = await kit.h.drive();
      expect(relay.commands.filter((c) => c === 'RCPT')).toHaveLength(rcptsAfterFirst + 1);
      expectLog(kit.h, redriveMark, { message: 'rejected', idempotencyKey: 'dup-after-dlq', recipient: 'r2@example.net', smtpCode: 550 });
      expect(relay.messages.map((m) => m.rcptTo)).toEqual([['r0@example.net', 'r1@example.net']]);
      await kit.finish({
        group: GROUP,
        row: 'duplicate of a dead-lettered key',
        key: 'dup-after-dlq',
        recipients: to,
        relays: [relay],
        rounds: [...first, ...duplicate, ...redriven],
        outcome: `DLQ entries 1 (+1 after the redrive); RCPTs ${rcptsAfterFirst}, then ${rcptsAfterFirst} for the duplicate, ${rcptsAfterFirst + 1} after the redrive`,
      });
    });

    it('550 to one RCPT, then the connection cut after the final ".": the 550 stands, only the accepted recipient is retried', async () => {
      // Prepare: r0 refused at RCPT, r1 accepted; the first transaction is cut after DATA's dot.
      let cut = true;
      const relay = await kit.raw({
        script: (phase, at) => {
          if (phase === 'rcpt' && at.recipient === 'r0@example.net') return { kind: 'reply', code: 550, text: '5.1.1 No such user' };
          if (phase === 'data-end' && cut) return { kind: 'close' };
          return undefined;
        },
      });
      await kit.route('f-550-then-cut', relay.port);
      const to = ['r0@example.net', 'r1@example.net'];
      const mark = kit.h.mark();
      await kit.h.world.enqueue([mail('550-then-cut', { to, binding: 'f-550-then-cut' })]);

      // Act
      const rounds = await kit.h.drive({ between: () => (cut = false) });

      // Assess: first receive — r0 rejected (final), r1 deferred; second — only r1 is asked.
      expect(rounds.map((r) => r.failed.length)).toEqual([1, 0]);
      expectLog(kit.h, mark, { message: 'rejected', idempotencyKey: '550-then-cut', recipient: 'r0@example.net', smtpCode: 550, receiveCount: 1 });
      expectLog(kit.h, mark, { message: 'deferred', idempotencyKey: '550-then-cut', recipient: 'r1@example.net', receiveCount: 1 });
      expect(findLogs(kit.h, mark, { message: 'deferred', recipient: 'r0@example.net' })).toHaveLength(0);
      const rcpts = relay.transcript.filter((line) => / RCPT TO:/i.test(line)).map((line) => /<([^>]+)>/.exec(line)?.[1]);
      expect(rcpts).toEqual(['r0@example.net', 'r1@example.net', 'r1@example.net']);
      const [entry] = await kit.h.dlqFor('550-then-cut');
      expect(attribute(entry, 'mailrelay.reason')).toBe('unknown-recipient');
      expect(JSON.parse(attribute(entry, 'mailrelay.recipients') ?? '[]')).toEqual(['r0@example.net']);
      expect(relay.accepted.map((m) => m.rcptTo)).toEqual([['r1@example.net']]);
      await kit.finish({ group: GROUP, row: '550 then a cut after the dot', key: '550-then-cut', recipients: to, relays: [relay], rounds, outcome: 'r0 refused once, never asked again; r1 retried, relayed once; DLQ names r0 only' });
    });
  });
}
