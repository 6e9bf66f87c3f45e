/** `mailrelay dlq list`: what is in the dead-letter queue, and why. */
import type { CommandRun } from '../command.js';
import { str } from '../command.js';
import { integerOption } from '../args.js';
import { heldElsewhere, receiveDeadLetters, release, type DeadLetter } from '../dlq/deadLetters.js';
import { age, plural, printJson } from '../io.js';

export const run: CommandRun = async ({ values }, ctx) => {
  const max = integerOption('dlq list', 'max', str(values['max']), 100, 1, 10_000);
  const target = ctx.target();
  const url = target.dlqUrl();
  const sqs = await target.sqs();
  const letters = await receiveDeadLetters(sqs, url, { max });
  await release(sqs, url, letters);

  // None visible is not "empty" when another reader holds them: say so rather than mislead.
  const held = letters.length === 0 ? await heldElsewhere(sqs, url) : 0;

  if (ctx.json) {
    printJson(ctx.io, { queueUrl: url, messages: letters.map(({ receiptHandle: _r, ...rest }) => rest), ...(held ? { heldElsewhere: held } : {}) });
    return 0;
  }
  if (letters.length === 0 && held > 0) {
    ctx.io.out(`No message of the DLQ is visible right now, but about ${plural(held, 'message')} ${held === 1 ? 'is' : 'are'} in flight: received by another reader (another dlq list, show or redrive, the SQS console, a script). They reappear when that reader's visibility timeout ends, unless it deletes them (${url}).`);
    return 0;
  }
  if (letters.length === 0) {
    ctx.io.out(`The DLQ is empty (${url}).`);
    return 0;
  }
  ctx.io.out(`${plural(letters.length, 'message')} in ${url}${letters.length === max ? ` (the first ${max}; see --max)` : ''}:`);
  for (const letter of letters) printLetter(letter, ctx.io.out);
  return 0;
};

function printLetter(l: DeadLetter, out: (line: string) => void): void {
  const when = l.failedAt ? Date.parse(l.failedAt) : l.sentAt;
  out('');
  out(`${l.id}  ${when ? `${age(when)} ago` : ''}  ${l.reason ?? '(no reason: moved by the queue after maxReceiveCount)'}`);
  const rows: [string, string | undefined][] = [
    ['detail', l.detail],
    ['smtp', l.smtpCode !== undefined || l.smtpReply ? [l.smtpCode, l.smtpReply?.replace(new RegExp(`^${l.smtpCode ?? ''}\\s*`), '')].filter((x) => x !== undefined && x !== '').join(' ') : undefined],
    ['route', l.route],
    ['recipients', l.recipients.length ? l.recipients.join(', ') : undefined],
    ['key', l.idempotencyKey],
    ['source id', l.sourceMessageId],
    ['receives', l.receiveCount !== undefined ? String(l.receiveCount) : undefined],
  ];
  for (const [name, value] of rows) if (value) out(`  ${name.padEnd(11)} ${value}`);
}
