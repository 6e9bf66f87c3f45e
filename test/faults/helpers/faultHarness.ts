/**
 * The world the fault matrix runs in: the real Lambda handler (middy + Powertools, imported after
 * the environment is set, as Lambda does) against dynalite and fauxqs behind fault-injecting
 * proxies, the local Secrets Manager endpoint (which injects its own failures), and per-row
 * relays on 127.0.0.1. The test plays Lambda's event source mapping: it receives a batch with the
 * same poller `npm start` uses, hands it to the handler, deletes what was not reported failed,
 * and fast-forwards the backoff the worker set (ChangeMessageVisibility to 0) so a retry does
 * not take 30 seconds.
 */
import { ChangeMessageVisibilityCommand, DeleteMessageCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand, type Message } from '@aws-sdk/client-sqs';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { expect } from 'vitest';
import { pollOnce } from '../../../lambda/adapters/sqsPoller.js';
import type { RawSmtpServer } from '../../../local/rawSmtpServer.js';
import type { SmtpRelay } from '../../../local/smtpRelay.js';
import { startLocalWorld, type LocalWorld } from '../../helpers/localWorld.js';
import { startAwsFaultProxy, type AwsFaultProxy } from './awsFaultProxy.js';

export const RELAY_USER = 'billing@acme.example';
export const RELAY_PASSWORD = 'Relay-Pw-3c9e1a7b';
export const RELAY_SECRET = 'mailrelay/relay';
/** The queue's maxReceiveCount and the worker's MAX_RECEIVE_COUNT. */
export const MAX_RECEIVE_COUNT = 3;

type LambdaHandler = (event: SQSEvent, context: unknown) => Promise<{ batchItemFailures: { itemIdentifier: string }[] }>;
export type LogLine = Record<string, unknown> & { message?: string };

/** One invocation of the handler. */
export interface Round {
  readonly received: number;
  readonly records: readonly SQSRecord[];
  /** SQS message ids reported in batchItemFailures. */
  readonly failed: readonly string[];
}

/** A row of the closing table. */
export interface SummaryRow {
  readonly group: string;
  readonly row: string;
  readonly outcome: string;
  readonly lost: number;
  readonly duplicated: number;
  readonly note?: string;
}

/** Where every recipient of one message ended. */
export interface Tally {
  /** Recipient → how many times a relay answered 250 for it. */
  readonly acknowledged: ReadonlyMap<string, number>;
  /** Recipients named by the message's DLQ entries. */
  readonly deadLettered: ReadonlySet<string>;
  /** Neither acknowledged nor dead-lettered. */
  readonly lost: number;
  /** Acknowledged more than once, or acknowledged and also waiting in the DLQ (a redrive would resend). */
  readonly duplicated: number;
}

export type AnyRelay = SmtpRelay | RawSmtpServer;

export interface FaultHarness {
  readonly world: LocalWorld;
  readonly dynamoProxy: AwsFaultProxy;
  readonly sqsProxy: AwsFaultProxy;
  readonly handler: LambdaHandler;
  /** Every DLQ entry seen so far (the DLQ is emptied as it is read). */
  readonly dlq: Message[];
  readonly summary: SummaryRow[];
  /** A marker for {@link logsSince}/{@link metricsSince}. */
  mark(): number;
  logsSince(mark: number): LogLine[];
  /** Sums of each metric published since `mark`. */
  metricsSince(mark: number): Record<string, number>;
  /**
   * One batch through the real handler. `remainingTimeMs` replaces the context's clock; `crash`
   * plays a sandbox that dies after the handler ran but before its response reached SQS (nothing
   * is acknowledged: every record of the batch comes back).
   */
  invoke(options?: { remainingTimeMs?: () => number; crash?: boolean }): Promise<Round>;
  /**
   * Invoke until the queue is empty (every message acknowledged or dead-lettered) or `maxRounds`
   * ran. Before each round after the first, `between(roundNumber)` runs (heal the fault there).
   */
  drive(options?: { maxRounds?: number; between?: (round: number) => unknown }): Promise<Round[]>;
  /** Messages waiting or in flight on the main queue. */
  queueDepth(): Promise<number>;
  /** Reads (and deletes) the DLQ; returns the entries for `idempotencyKey`. */
  dlqFor(idempotencyKey: string): Promise<Message[]>;
  /** What `mailrelay dlq redrive` does: the key's DLQ entries go back to the queue, body unchanged. */
  redrive(idempotencyKey: string): Promise<number>;
  /** Where each recipient of `idempotencyKey` ended, from the relays' own records and the DLQ. */
  tally(idempotencyKey: string, recipients: readonly string[], relays: readonly AnyRelay[]): Promise<Tally>;
  stop(): Promise<void>;
}

/** The queue message of a row: `X-Fault-Key` lets the relays' records name the message. */
export function mail(key: string, options: { to: string[]; binding: string; text?: string } & Record<string, unknown>): string {
  const { to, binding, text, ...rest } = options;
  return JSON.stringify({
    idempotencyKey: key,
    from: `Acme Billing <${RELAY_USER}>`,
    to,
    subject: `fault ${key}`,
    text: text ?? `body of ${key}`,
    headers: { 'X-Fault-Key': key },
    binding,
    ...rest,
  });
}

export const attribute = (message: Message | undefined, name: string): string | undefined => message?.MessageAttributes?.[name]?.StringValue;

/** Recipients the relay answered 250 for, per message key. */
function acknowledgedBy(relay: AnyRelay, key: string): string[] {
  const pattern = new RegExp(`^X-Fault-Key: ${key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\r?$`, 'm');
  if ('messages' in relay) return relay.messages.filter((m) => pattern.test(m.raw.toString('utf-8'))).flatMap((m) => m.rcptTo);
  return relay.accepted.filter((m) => pattern.test(m.data.toString('utf-8'))).flatMap((m) => m.rcptTo);
}

export interface FaultHarnessOptions {
  /** The queue's maxReceiveCount and MAX_RECEIVE_COUNT. @default MAX_RECEIVE_COUNT */
  readonly maxReceiveCount?: number;
  /** Worker environment on top of the defaults (suspension timings, ...). */
  readonly env?: Record<string, string>;
  /**
   * A compressed clock for message age: each record handed to the handler looks this many ms
   * older than it is (its SentTimestamp moved back), so hours of outage pass in rounds.
   */
  readonly agedByMs?: () => number;
}

export async function startFaultHarness(harnessOptions: FaultHarnessOptions = {}): Promise<FaultHarness> {
  const maxReceiveCount = harnessOptions.maxReceiveCount ?? MAX_RECEIVE_COUNT;
  let captured = '';
  const verbose = process.env['FAULTS_VERBOSE'] === '1';
  const originalStdout = process.stdout.write.bind(process.stdout);
  const originalStderr = process.stderr.write.bind(process.stderr);
  const tee = (original: typeof process.stdout.write) =>
    ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
      captured += text;
      // The worker's JSON lines are the evidence; they are printed only with FAULTS_VERBOSE=1.
      if (verbose || !text.startsWith('{')) return (original as (c: unknown, ...r: unknown[]) => boolean)(chunk, ...rest);
      return true;
    }) as typeof process.stdout.write;
  process.stdout.write = tee(originalStdout);
  process.stderr.write = tee(originalStderr);

  const world = await startLocalWorld({
    maxReceiveCount,
    secrets: { [RELAY_SECRET]: JSON.stringify({ username: RELAY_USER, password: RELAY_PASSWORD }) },
    // The clock of these rows runs in rounds, not seconds: a relay that refused is suspended for
    // 1 ms, so the next round probes it. The outage rows (outage.test.ts) run their own clock.
    env: { ROUTE_SUSPENSION_SECONDS: '0.001', ROUTE_SUSPENSION_MAX_SECONDS: '0.001', ...harnessOptions.env },
  });
  const dynamoProxy = await startAwsFaultProxy(world.dynamo.endpoint);
  const sqsProxy = await startAwsFaultProxy(world.sqsEmulator.endpoint);
  // The handler's clients go through the proxies; the test's own clients (world.sqs, world.documents) do not.
  const viaProxy = (url: string): string => url.replace(world.sqsEmulator.endpoint, sqsProxy.url);
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_DYNAMODB: dynamoProxy.url,
    AWS_ENDPOINT_URL_SQS: sqsProxy.url,
    QUEUE_URL: viaProxy(world.queues.queueUrl),
    DEAD_LETTER_QUEUE_URL: viaProxy(world.queues.dlqUrl),
  });
  const module = await import('../../../lambda/handlers/relay.js');
  const handler = module.handler as unknown as LambdaHandler;

  const dlq: Message[] = [];
  const summary: SummaryRow[] = [];
  let request = 0;

  const parse = (text: string): LogLine[] =>
    text
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .flatMap((line) => {
        try {
          return [JSON.parse(line) as LogLine];
        } catch {
          return [];
        }
      });

  const harness: FaultHarness = {
    world,
    dynamoProxy,
    sqsProxy,
    handler,
    dlq,
    summary,
    mark: () => captured.length,
    logsSince: (mark) => parse(captured.slice(mark)).filter((line) => !('_aws' in line)),
    metricsSince(mark) {
      const sums: Record<string, number> = {};
      for (const line of parse(captured.slice(mark))) {
        const aws = line['_aws'] as { CloudWatchMetrics?: { Metrics?: { Name: string }[] }[] } | undefined;
        for (const metric of aws?.CloudWatchMetrics?.flatMap((m) => m.Metrics ?? []) ?? []) {
          const value = line[metric.Name];
          const values = Array.isArray(value) ? value : [value];
          sums[metric.Name] = (sums[metric.Name] ?? 0) + values.reduce((a: number, v) => a + (typeof v === 'number' ? v : 0), 0);
        }
      }
      return sums;
    },
    async invoke(options = {}) {
      let records: SQSRecord[] = [];
      let failed: string[] = [];
      let received: number;
      try {
        const result = await pollOnce(
          async (event, context) => {
            const aged = harnessOptions.agedByMs?.() ?? 0;
            if (aged > 0) {
              event.Records = event.Records.map((r) => ({ ...r, attributes: { ...r.attributes, SentTimestamp: String(Number(r.attributes.SentTimestamp) - aged) } }));
            }
            records = event.Records;
            const response = await handler(event, {
              getRemainingTimeInMillis: options.remainingTimeMs ?? (() => context.getRemainingTimeInMillis()),
              functionName: 'mailrelay-faults',
              functionVersion: '$LATEST',
              invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:mailrelay-faults',
              memoryLimitInMB: '512',
              awsRequestId: `faults-${++request}`,
              logGroupName: '/aws/lambda/mailrelay-faults',
              logStreamName: 'local',
              callbackWaitsForEmptyEventLoop: false,
            });
            failed = response.batchItemFailures.map((f) => f.itemIdentifier);
            if (options.crash) throw new Error('the sandbox died before the batch response reached SQS');
            return response;
          },
          { client: world.sqs, queueUrl: world.queues.queueUrl, queueArn: world.queues.queueArn, waitTimeSeconds: 0 },
        );
        received = result.received;
      } catch (error) {
        if (!options.crash) throw error;
        received = records.length;
        failed = records.map((r) => r.messageId);
      }
      // Fast-forward the backoff: the retried records are visible again at once.
      for (const record of records.filter((r) => failed.includes(r.messageId))) {
        await world.sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: world.queues.queueUrl, ReceiptHandle: record.receiptHandle, VisibilityTimeout: 0 }));
      }
      return { received, records, failed };
    },
    async drive(options = {}) {
      const rounds: Round[] = [];
      for (let round = 1; round <= (options.maxRounds ?? maxReceiveCount + 1); round++) {
        if (round > 1) await options.between?.(round);
        const result = await harness.invoke();
        if (result.received > 0) rounds.push(result);
        else if ((await harness.queueDepth()) === 0) break;
      }
      return rounds;
    },
    async queueDepth() {
      const { Attributes } = await world.sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: world.queues.queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
      );
      return Number(Attributes?.['ApproximateNumberOfMessages'] ?? 0) + Number(Attributes?.['ApproximateNumberOfMessagesNotVisible'] ?? 0);
    },
    async dlqFor(key) {
      for (let i = 0; i < 20; i++) {
        const { Messages = [] } = await world.sqs.send(
          new ReceiveMessageCommand({ QueueUrl: world.queues.dlqUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, MessageAttributeNames: ['All'], MessageSystemAttributeNames: ['All'] }),
        );
        if (Messages.length === 0) break;
        for (const message of Messages) {
          dlq.push(message);
          await world.sqs.send(new DeleteMessageCommand({ QueueUrl: world.queues.dlqUrl, ReceiptHandle: message.ReceiptHandle! }));
        }
      }
      return dlq.filter((m) => attribute(m, 'mailrelay.idempotencyKey') === key);
    },
    async redrive(key) {
      const entries = await harness.dlqFor(key);
      for (const entry of entries) {
        dlq.splice(dlq.indexOf(entry), 1);
        // As `mailrelay dlq redrive` does: the key travels as an attribute, which is what tells a
        // redrive from a producer's copy of the same message.
        await world.sqs.send(
          new SendMessageCommand({
            QueueUrl: world.queues.queueUrl,
            MessageBody: entry.Body!,
            MessageAttributes: { 'mailrelay.idempotencyKey': { DataType: 'String', StringValue: attribute(entry, 'mailrelay.idempotencyKey') ?? key } },
          }),
        );
      }
      return entries.length;
    },
    async tally(key, recipients, relays) {
      const acknowledged = new Map<string, number>(recipients.map((r) => [r.toLowerCase(), 0]));
      for (const relay of relays) {
        for (const rcpt of acknowledgedBy(relay, key)) acknowledged.set(rcpt.toLowerCase(), (acknowledged.get(rcpt.toLowerCase()) ?? 0) + 1);
      }
      const entries = await harness.dlqFor(key);
      // The latest entry is the one a redrive would send (an earlier one was redriven already).
      const latest = entries.at(-1);
      const deadLettered = new Set<string>((JSON.parse(attribute(latest, 'mailrelay.recipients') ?? '[]') as string[]).map((r) => r.toLowerCase()));
      let lost = 0;
      let duplicated = 0;
      for (const [rcpt, count] of acknowledged) {
        if (count === 0 && !deadLettered.has(rcpt)) lost += 1;
        if (count > 1 || (count > 0 && deadLettered.has(rcpt))) duplicated += 1;
      }
      return { acknowledged, deadLettered, lost, duplicated };
    },
    async stop() {
      process.stdout.write = originalStdout;
      process.stderr.write = originalStderr;
      await Promise.all([dynamoProxy.stop(), sqsProxy.stop()]);
      await world.stop();
    },
  };
  return harness;
}

const matches = (line: LogLine, match: Record<string, unknown>): boolean =>
  Object.entries(match).every(([k, v]) => (v instanceof RegExp ? typeof line[k] === 'string' && v.test(line[k]) : JSON.stringify(line[k]) === JSON.stringify(v)));

/** The log lines written since `mark` that hold every field of `match` (a RegExp matches a string field). */
export function findLogs(harness: FaultHarness, mark: number, match: Record<string, unknown>): LogLine[] {
  return harness.logsSince(mark).filter((line) => matches(line, match));
}

/** Asserts that a log line holding every field of `match` was written since `mark`, and returns it. */
export function expectLog(harness: FaultHarness, mark: number, match: Record<string, unknown>): LogLine {
  const found = findLogs(harness, mark, match);
  const seen = harness.logsSince(mark).map((l) => `${String(l.message)} ${String(l['reason'] ?? '')}`);
  expect(found.length, `no log line like ${JSON.stringify(match, (_k, v: unknown) => (v instanceof RegExp ? String(v) : v))}; saw: ${seen.join(' | ')}`).toBeGreaterThan(0);
  return found[0]!;
}

/** The closing table, one line per row. */
export function formatSummary(rows: readonly SummaryRow[]): string {
  const header = ['group', 'row', 'outcome', 'lost', 'duplicated', 'note'];
  const body = rows.map((r) => [r.group, r.row, r.outcome, String(r.lost), String(r.duplicated), r.note ?? '']);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  const lost = rows.reduce((a, r) => a + r.lost, 0);
  const duplicated = rows.reduce((a, r) => a + r.duplicated, 0);
  return [
    '',
    `mailrelay fault matrix: ${rows.length} rows, lost=${lost}, duplicated=${duplicated} (relay 250s beyond the first per recipient; see docs/fault-handling.md)`,
    line(header),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...body.map(line),
    '',
  ].join('\n');
}
