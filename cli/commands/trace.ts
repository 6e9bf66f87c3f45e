/**
 * `mailrelay trace KEY [--binding B]`: one message's history. The idempotency record (id
 * `<binding>#<key>`, lambda/worker/idempotencyScope.ts) holds its status, the recipients the relay
 * accepted and the ones that failed, and the failure recorded last; the DLQ entries that carry
 * the key show where it stands now. Without --binding every binding's record of the key is found
 * (a scan of the table: the key is the id's suffix).
 */
import { GetCommand, ScanCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { IDEMPOTENCY_TABLE_PARTITION_KEY } from '../../lambda/core/names.js';
import { idempotencyRecordId } from '../../lambda/worker/idempotencyScope.js';
import type { CommandRun } from '../command.js';
import { str } from '../command.js';
import { receiveDeadLetters, release, type DeadLetter } from '../dlq/deadLetters.js';
import { UsageError } from '../errors.js';
import { age, printJson } from '../io.js';

/** An idempotency record as stored (lambda/adapters/dynamoIdempotencyStore.ts). */
export interface TracedRecord {
  readonly id: string;
  readonly binding: string;
  readonly status: string;
  readonly delivered: readonly string[];
  readonly failed: readonly string[];
  readonly failure?: { reason: string; detail?: string; responseCode?: number; response?: string; route?: string } | undefined;
  readonly settledAt?: string | undefined;
  /** An in-progress claim's lease (ms since the epoch). */
  readonly leaseUntil?: number | undefined;
  /** When DynamoDB's TTL removes the record (seconds since the epoch). */
  readonly expiresAt?: number | undefined;
  /** DLQ entries (`<source message id>/<receive>/<failedAt>`) whose redrive claimed the key: not taken back again. */
  readonly redrivenEntries?: readonly string[] | undefined;
}

/** Pages of the scan without --binding, at most (1 MB each). */
const MAX_SCAN_PAGES = 1_000;

export const run: CommandRun = async ({ values, positionals }, ctx) => {
  const [key, ...extra] = positionals;
  if (!key) throw new UsageError('give the message\'s idempotency key: mailrelay trace KEY [--binding NAME]', 'trace');
  if (extra.length) throw new UsageError(`unexpected argument: ${extra[0]}`, 'trace');
  const binding = str(values['binding']);
  if (binding?.includes('#')) throw new UsageError(`--binding: a binding name holds no "#" (got "${binding}")`, 'trace');
  const target = ctx.target();
  const table = target.idempotencyTable();
  const dynamo = await target.dynamo();
  const records = binding === undefined ? await scanForKey(dynamo, table, key) : await getRecord(dynamo, table, idempotencyRecordId({ binding, idempotencyKey: key }));

  const sqs = await target.sqs();
  const dlqUrl = target.dlqUrl();
  const letters = await receiveDeadLetters(sqs, dlqUrl, { max: 10_000, visibilitySeconds: 20 });
  await release(sqs, dlqUrl, letters);
  const entries = letters.filter((l) => l.idempotencyKey === key && (binding === undefined || bindingOf(l) === undefined || bindingOf(l) === binding));

  const found = records.length > 0 || entries.length > 0;
  if (ctx.json) {
    printJson(ctx.io, { idempotencyKey: key, binding: binding ?? null, table, records, deadLetters: entries.map(({ receiptHandle: _r, ...rest }) => rest) });
    return found ? 0 : 1;
  }
  if (!found) {
    ctx.io.err(`no record of ${binding === undefined ? `key ${key} under any binding` : idempotencyRecordId({ binding, idempotencyKey: key })} in ${table}, and no DLQ entry carries it`);
    ctx.io.err('(records expire 30 days after their last change; a message not yet received by the worker has none)');
    return 1;
  }
  for (const record of records) printRecord(record, ctx.io.out);
  if (records.length === 0) ctx.io.out(`no idempotency record of ${key} in ${table}`);
  for (const letter of entries) printLetter(letter, ctx.io.out);
  ctx.io.out('');
  ctx.io.out(`Log lines: the stack's saved Logs Insights query "${str(values['stack']) ?? '<stack name>'}/message-history" (put ${key} in its filter).`);
  return 0;
};

async function getRecord(dynamo: DynamoDBDocumentClient, table: string, id: string): Promise<TracedRecord[]> {
  const { Item } = await dynamo.send(new GetCommand({ TableName: table, Key: { [IDEMPOTENCY_TABLE_PARTITION_KEY]: id }, ConsistentRead: true }));
  return Item ? [toRecord(Item)] : [];
}

async function scanForKey(dynamo: DynamoDBDocumentClient, table: string, key: string): Promise<TracedRecord[]> {
  const found: TracedRecord[] = [];
  let start: Record<string, unknown> | undefined;
  for (let page = 0; page < MAX_SCAN_PAGES; page++) {
    const out = await dynamo.send(
      new ScanCommand({
        TableName: table,
        FilterExpression: 'contains(#id, :suffix)',
        ExpressionAttributeNames: { '#id': IDEMPOTENCY_TABLE_PARTITION_KEY },
        ExpressionAttributeValues: { ':suffix': `#${key}` },
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    );
    for (const item of out.Items ?? []) {
      const id = String(item[IDEMPOTENCY_TABLE_PARTITION_KEY] ?? '');
      // the binding ends at the first '#': the rest is the key, exactly
      if (id.slice(id.indexOf('#') + 1) === key) found.push(toRecord(item));
    }
    start = out.LastEvaluatedKey;
    if (!start) break;
  }
  return found.sort((a, b) => a.id.localeCompare(b.id));
}

function toRecord(item: Record<string, unknown>): TracedRecord {
  const id = String(item[IDEMPOTENCY_TABLE_PARTITION_KEY]);
  const strings = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : v instanceof Set ? [...v].map(String) : []);
  const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);
  const failure = item['failure'];
  return {
    id,
    binding: id.slice(0, Math.max(0, id.indexOf('#'))),
    status: typeof item['status'] === 'string' ? item['status'] : 'unknown',
    delivered: strings(item['delivered']),
    failed: strings(item['failed']),
    failure: failure && typeof failure === 'object' && typeof (failure as { reason?: unknown }).reason === 'string' ? (failure as TracedRecord['failure']) : undefined,
    settledAt: typeof item['settledAt'] === 'string' ? item['settledAt'] : undefined,
    leaseUntil: num(item['leaseUntil']),
    expiresAt: num(item['expiresAt']),
    redrivenEntries: item['redrivenEntries'] instanceof Set || Array.isArray(item['redrivenEntries']) ? strings(item['redrivenEntries']) : undefined,
  };
}

/** The binding of a DLQ entry's body, when it names one (else its sender's domain is the binding). */
function bindingOf(letter: DeadLetter): string | undefined {
  try {
    const body = JSON.parse(letter.body) as { binding?: unknown; from?: unknown };
    if (typeof body.binding === 'string') return body.binding;
    const from = typeof body.from === 'string' ? body.from : (body.from as { address?: unknown } | undefined)?.address;
    return typeof from === 'string' && from.includes('@') ? from.slice(from.lastIndexOf('@') + 1).replace(/>$/, '').toLowerCase() : undefined;
  } catch {
    return undefined;
  }
}

function printRecord(r: TracedRecord, out: (line: string) => void): void {
  out(`${r.id}  ${r.status}${r.settledAt ? `  (settled ${age(Date.parse(r.settledAt))} ago, ${r.settledAt})` : ''}`);
  const rows: [string, string | undefined][] = [
    ['binding', r.binding],
    ['delivered', r.delivered.length ? r.delivered.join(', ') : '(none)'],
    ['failed', r.failed.length ? r.failed.join(', ') : undefined],
    ['failure', r.failure ? [r.failure.reason, r.failure.detail].filter(Boolean).join(': ') : undefined],
    ['smtp', r.failure?.responseCode !== undefined || r.failure?.response ? [r.failure?.responseCode, r.failure?.response].filter((x) => x !== undefined && x !== '').join(' ') : undefined],
    ['route', r.failure?.route],
    ['lease', r.status === 'in-progress' && r.leaseUntil ? `held until ${new Date(r.leaseUntil).toISOString()}` : undefined],
    ['redriven', r.redrivenEntries?.length ? `${r.redrivenEntries.join(', ')} (once dead-lettered, another redrive of these DLQ entries is a duplicate)` : undefined],
    ['expires', r.expiresAt ? new Date(r.expiresAt * 1000).toISOString() : undefined],
  ];
  for (const [name, value] of rows) if (value) out(`  ${name.padEnd(10)} ${value}`);
}

function printLetter(l: DeadLetter, out: (line: string) => void): void {
  out(`DLQ ${l.id}  ${l.reason ?? '(no reason: moved by the queue after maxReceiveCount)'}${l.failedAt ? `  (${l.failedAt})` : ''}`);
  if (l.detail) out(`  detail     ${l.detail}`);
  if (l.recipients.length) out(`  waiting    ${l.recipients.join(', ')}`);
  out(`  see        mailrelay dlq show ${l.id}`);
}
