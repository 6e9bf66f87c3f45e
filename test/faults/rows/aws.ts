/**
 * Rows: AWS fails. DynamoDB and SQS failures are injected on the wire by a proxy in front of the
 * emulators (the handler's own SDK clients go through it, AWS_MAX_ATTEMPTS=1, so what the
 * worker sees is what it would see after the SDK's retries); Secrets Manager failures by the
 * local endpoint. Throttling and 5xx defer; a denied secret is configuration (DLQ); a record is
 * never acknowledged unless its DLQ copy was written.
 */
import { describe, expect, it } from 'vitest';
import { attribute, expectLog, findLogs, mail } from '../helpers/faultHarness.js';
import type { RowKit } from '../helpers/rowKit.js';

const GROUP = 'aws';
const DYNAMO = 'DynamoDB_20120810';
/** The idempotency claim's update (a settle, a BatchWriteItem of the batch, holds `settledAt` instead). */
const CLAIM = 'leaseUntil = :lease';
const SETTLE = 'settledAt';

export function awsRows(kit: RowKit): void {
  describe('AWS faults', () => {
    const configRead = [
      { row: 'DynamoDB throttling on config read', type: 'ProvisionedThroughputExceededException', reason: 'aws-throttled' },
      { row: 'DynamoDB 5xx on config read', type: 'InternalServerError', reason: 'aws-error' },
    ] as const;
    for (const fault of configRead) {
      it(`${fault.row}: deferred (${fault.reason}), then relayed once`, async () => {
        // Prepare
        const key = `config-${fault.reason}`;
        const relay = await kit.smtp();
        await kit.route(`a-${key}`, relay.port);
        const mark = kit.h.mark();
        await kit.h.world.enqueue([mail(key, { to: ['bob@example.net'], binding: `a-${key}` })]);
        kit.h.dynamoProxy.failNext({ target: `${DYNAMO}.BatchGetItem`, type: fault.type });

        // Act
        const rounds = await kit.h.drive();

        // Assess
        expect(rounds.map((r) => r.failed.length)).toEqual([1, 0]);
        expect(kit.h.dynamoProxy.requests.filter((r) => r.failedWith === fault.type)).toHaveLength(1);
        // The first config read is the producer check's (the binding item), before the claim.
        const line = expectLog(kit.h, mark, { message: 'producer check or idempotency claim failed; will retry', idempotencyKey: key, reason: fault.reason });
        expect(String(line['detail'])).toContain(fault.type);
        expect(kit.h.metricsSince(mark)).toMatchObject({ Deferred: 1, Delivered: 1 });
        // The relay was not contacted while routing failed.
        expect(relay.connectionCount).toBe(1);
        expect(relay.messages.map((m) => m.rcptTo)).toEqual([['bob@example.net']]);
        await kit.finish({ group: GROUP, row: fault.row, key, recipients: ['bob@example.net'], relays: [relay], rounds });
      });
    }

    const claim = [
      { row: 'DynamoDB throttling on idempotency write', type: 'ThrottlingException', reason: 'aws-throttled' },
      { row: 'DynamoDB 5xx on idempotency write', type: 'InternalServerError', reason: 'aws-error' },
    ] as const;
    for (const fault of claim) {
      it(`${fault.row} (the claim): retried before anything is sent, then relayed once`, async () => {
        const key = `claim-${fault.type}`;
        const relay = await kit.smtp();
        await kit.route(`a-claim-${fault.type.toLowerCase()}`, relay.port);
        const mark = kit.h.mark();
        await kit.h.world.enqueue([mail(key, { to: ['bob@example.net'], binding: `a-claim-${fault.type.toLowerCase()}` })]);
        kit.h.dynamoProxy.failNext({ target: `${DYNAMO}.UpdateItem`, bodyIncludes: CLAIM, type: fault.type });

        const rounds = await kit.h.drive();

        expect(rounds.map((r) => r.failed.length)).toEqual([1, 0]);
        // Nothing was sent while the key could not be claimed.
        expect(relay.connectionCount).toBe(1);
        const line = expectLog(kit.h, mark, { message: 'producer check or idempotency claim failed; will retry', idempotencyKey: key, outcome: 'deferred', reason: fault.reason });
        expect(String(line['detail'])).toContain(fault.type);
        expect(kit.h.metricsSince(mark)).toMatchObject({ Deferred: 1, Delivered: 1 });
        expect(relay.messages.map((m) => m.rcptTo)).toEqual([['bob@example.net']]);
        await kit.finish({ group: GROUP, row: fault.row, key, recipients: ['bob@example.net'], relays: [relay], rounds });
      });
    }

    it('DynamoDB 5xx on the batch idempotency settle (BatchWriteItem) after the 250: acknowledged (relayed once), the failure logged', async () => {
      const relay = await kit.smtp();
      await kit.route('a-settle', relay.port);
      const mark = kit.h.mark();
      await kit.h.world.enqueue([mail('settle-5xx', { to: ['bob@example.net'], binding: 'a-settle' })]);
      kit.h.dynamoProxy.failNext({ target: `${DYNAMO}.BatchWriteItem`, bodyIncludes: SETTLE, type: 'InternalServerError' });

      const rounds = await kit.h.drive();

      expect(rounds.map((r) => r.failed.length)).toEqual([0]);
      expectLog(kit.h, mark, { message: 'relayed', idempotencyKey: 'settle-5xx' });
      const line = expectLog(kit.h, mark, { message: 'could not record delivery state', idempotencyKey: 'settle-5xx', level: 'ERROR' });
      expect(String(line['detail'])).toContain('InternalServerError');
      expect(relay.messages.map((m) => m.rcptTo)).toEqual([['bob@example.net']]);
      await kit.finish({ group: GROUP, row: 'DynamoDB 5xx on settle (after 250)', key: 'settle-5xx', recipients: ['bob@example.net'], relays: [relay], rounds });
    });

    it('Secrets Manager throttling: deferred (aws-throttled) before connecting, then relayed once', async () => {
      const secret = 'mailrelay/secrets-throttled';
      kit.h.world.secrets.setSecret(secret, JSON.stringify({ username: 'billing@acme.example', password: 'Relay-Pw-3c9e1a7b' }));
      const relay = await kit.smtp();
      await kit.route('a-sm-throttle', relay.port, { auth: { pass: { secret } } });
      const mark = kit.h.mark();
      await kit.h.world.enqueue([mail('sm-throttle', { to: ['bob@example.net'], binding: 'a-sm-throttle' })]);
      kit.h.world.secrets.failNext('secretsmanager.GetSecretValue', { type: 'ThrottlingException' });

      const rounds = await kit.h.drive();

      expect(rounds.map((r) => r.failed.length)).toEqual([1, 0]);
      expect(kit.h.world.secrets.requests.filter((r) => r.name === secret).map((r) => r.failedWith)).toEqual(['ThrottlingException', undefined]);
      expectLog(kit.h, mark, { message: 'deferred', idempotencyKey: 'sm-throttle', reason: 'aws-throttled' });
      expect(relay.connectionCount).toBe(1);
      expect(relay.messages.map((m) => m.rcptTo)).toEqual([['bob@example.net']]);
      await kit.finish({ group: GROUP, row: 'Secrets Manager throttling', key: 'sm-throttle', recipients: ['bob@example.net'], relays: [relay], rounds });
    });

    it('Secrets Manager AccessDenied: dead-lettered as config-error (IAM will not fix itself); relayed once after the fix and a redrive', async () => {
      const secret = 'mailrelay/secrets-denied';
      kit.h.world.secrets.setSecret(secret, JSON.stringify({ username: 'billing@acme.example', password: 'Relay-Pw-3c9e1a7b' }));
      const relay = await kit.smtp();
      await kit.route('a-sm-denied', relay.port, { auth: { pass: { secret } } });
      const mark = kit.h.mark();
      await kit.h.world.enqueue([mail('sm-denied', { to: ['bob@example.net'], binding: 'a-sm-denied' })]);
      kit.h.world.secrets.failNext('secretsmanager.GetSecretValue', { type: 'AccessDeniedException' });

      const rounds = await kit.h.drive();
      const [entry] = await kit.h.dlqFor('sm-denied');
      // The operator fixes the policy and redrives.
      await kit.h.redrive('sm-denied');
      const redriven = await kit.h.drive();

      expect(rounds.map((r) => r.failed.length)).toEqual([0]);
      expect(attribute(entry, 'mailrelay.reason')).toBe('config-error');
      expect(attribute(entry, 'mailrelay.detail')).toContain('AccessDeniedException');
      expectLog(kit.h, mark, { message: 'dead-lettered', idempotencyKey: 'sm-denied', reason: 'config-error' });
      expect(kit.h.metricsSince(mark)).toMatchObject({ DeadLettered: 1, Delivered: 1 });
      expect(relay.messages.map((m) => m.rcptTo)).toEqual([['bob@example.net']]);
      await kit.finish({
        group: GROUP,
        row: 'Secrets Manager AccessDenied',
        key: 'sm-denied',
        recipients: ['bob@example.net'],
        relays: [relay],
        rounds: [...rounds, ...redriven],
        outcome: 'DLQ config-error; relayed once after fix + redrive',
      });
    });

    it('SQS SendMessage to the DLQ fails: the record is retried, never acknowledged; the next receive dead-letters it without resending', async () => {
      // Prepare
      const relay = await kit.smtp({ onRcptTo: () => ({ code: 550, message: '5.1.1 No such user' }) });
      await kit.route('a-dlq-send', relay.port);
      const mark = kit.h.mark();
      await kit.h.world.enqueue([mail('dlq-send', { to: ['gone@example.net'], binding: 'a-dlq-send' })]);
      kit.h.sqsProxy.failNext({ target: 'AmazonSQS.SendMessage', type: 'InternalError' });

      // Act
      const rounds = await kit.h.drive();

      // Assess
      expect(rounds.map((r) => r.failed.length)).toEqual([1, 0]);
      expectLog(kit.h, mark, { message: 'could not send to the DLQ; will retry', reason: 'unknown-recipient', level: 'ERROR' });
      const entries = await kit.h.dlqFor('dlq-send');
      expect(entries).toHaveLength(1);
      expect(attribute(entries[0], 'mailrelay.reason')).toBe('unknown-recipient');
      expect(JSON.parse(attribute(entries[0], 'mailrelay.recipients') ?? '[]')).toEqual(['gone@example.net']);
      // The refused recipient was asked once: the retry only wrote the DLQ copy.
      expect(relay.commands.filter((c) => c === 'RCPT')).toHaveLength(1);
      await kit.finish({ group: GROUP, row: 'SQS SendMessage to the DLQ fails', key: 'dlq-send', recipients: ['gone@example.net'], relays: [relay], rounds });
    });

    it('SQS ChangeMessageVisibility fails: still retried (after the queue visibility timeout), then relayed once', async () => {
      let busy = true;
      const relay = await kit.smtp({ onRcptTo: () => (busy ? { code: 451, message: '4.3.0 Try again later' } : undefined) });
      await kit.route('a-visibility', relay.port);
      const mark = kit.h.mark();
      await kit.h.world.enqueue([mail('visibility', { to: ['bob@example.net'], binding: 'a-visibility' })]);
      kit.h.sqsProxy.failNext({ target: 'AmazonSQS.ChangeMessageVisibility', type: 'InternalError' });

      const rounds = await kit.h.drive({ between: () => (busy = false) });

      expect(rounds.map((r) => r.failed.length)).toEqual([1, 0]);
      expect(kit.h.sqsProxy.requests.filter((r) => r.failedWith === 'InternalError' && r.target === 'AmazonSQS.ChangeMessageVisibility')).toHaveLength(1);
      expectLog(kit.h, mark, { message: 'could not set the retry delay; the visibility timeout applies' });
      expectLog(kit.h, mark, { message: 'deferred', idempotencyKey: 'visibility', smtpCode: 451 });
      expect(findLogs(kit.h, mark, { message: 'relayed', idempotencyKey: 'visibility' })).toHaveLength(1);
      await kit.finish({ group: GROUP, row: 'SQS ChangeMessageVisibility fails', key: 'visibility', recipients: ['bob@example.net'], relays: [relay], rounds });
    });
  });
}
