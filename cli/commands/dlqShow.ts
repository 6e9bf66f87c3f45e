/** `mailrelay dlq show ID`: one dead-lettered message in full: its reason, attributes and body. */
import type { CommandRun } from '../command.js';
import { receiveDeadLetters, release } from '../dlq/deadLetters.js';
import { CliError, UsageError } from '../errors.js';
import { age, printJson } from '../io.js';
import { maskInlineValues } from '../redact.js';

export const run: CommandRun = async ({ positionals }, ctx) => {
  const [id, ...extra] = positionals;
  if (!id) throw new UsageError('give a DLQ message id (from mailrelay dlq list)', 'dlq show');
  if (extra.length) throw new UsageError(`unexpected argument: ${extra[0]}`, 'dlq show');
  const target = ctx.target();
  const url = target.dlqUrl();
  const sqs = await target.sqs();
  const letters = await receiveDeadLetters(sqs, url, { max: 10_000 });
  await release(sqs, url, letters);
  const letter = letters.find((l) => l.id === id);
  if (!letter) throw new CliError(`not found in the DLQ: ${id} (${url})`, 1);

  // A message may carry an auth override with an inline { "value": ... } keysource: masked.
  let body: unknown;
  try {
    body = maskInlineValues(JSON.parse(letter.body));
  } catch {
    body = undefined;
  }
  const { receiptHandle: _r, body: raw, ...attributes } = letter;
  if (ctx.json) {
    printJson(ctx.io, { ...attributes, body: body ?? raw });
    return 0;
  }
  const when = letter.failedAt ? Date.parse(letter.failedAt) : letter.sentAt;
  ctx.io.out(`${letter.id}  ${letter.reason ?? '(no reason: moved by the queue after maxReceiveCount)'}${when ? `  ${age(when)} ago` : ''}`);
  const rows: [string, string | undefined][] = [
    ['detail', letter.detail],
    ['smtp code', letter.smtpCode !== undefined ? String(letter.smtpCode) : undefined],
    ['smtp reply', letter.smtpReply],
    ['route', letter.route],
    ['recipients', letter.recipients.length ? letter.recipients.join(', ') : undefined],
    ['key', letter.idempotencyKey],
    ['source id', letter.sourceMessageId],
    ['receives', letter.receiveCount !== undefined ? String(letter.receiveCount) : undefined],
    ['failed at', letter.failedAt],
    ['in DLQ since', letter.sentAt ? new Date(letter.sentAt).toISOString() : undefined],
  ];
  for (const [name, value] of rows) if (value) ctx.io.out(`  ${name.padEnd(12)} ${value}`);
  ctx.io.out('');
  ctx.io.out(body === undefined ? raw : JSON.stringify(body, null, 2));
  if (letter.reason === 'invalid-message') ctx.io.out('\n(invalid-message: a redrive fails again unless the producer resends a fixed message)');
  return 0;
};
