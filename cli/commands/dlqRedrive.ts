/** `mailrelay dlq redrive`: send dead-lettered messages back to the main queue. */
import { SendMessageCommand, type MessageAttributeValue } from '@aws-sdk/client-sqs';
import { DEAD_LETTER_ID_ATTRIBUTE, deadLetterId, IDEMPOTENCY_KEY_ATTRIBUTE } from '../../lambda/worker/types.js';
import type { CommandRun } from '../command.js';
import { list } from '../command.js';
import { receiveDeadLetters, release, remove, type DeadLetter } from '../dlq/deadLetters.js';
import { plural, printJson } from '../io.js';

/**
 * What a redriven message carries: the entry's idempotency key (or its SQS id, a fallback key) and
 * the entry's id (docs/design.md §3). The worker takes a dead-lettered key back only for the entry
 * that holds it now, so a second copy of this redrive, or of an entry a crash in `run` leaves
 * behind, is not sent again. An entry the queue's redrive policy moved has no id to carry.
 */
export function redriveAttributes(letter: DeadLetter): Record<string, MessageAttributeValue> {
  const { sourceMessageId, receiveCount, failedAt } = letter;
  const entry = sourceMessageId !== undefined && receiveCount !== undefined && failedAt !== undefined ? deadLetterId({ sourceMessageId, receiveCount, failedAt }) : undefined;
  return {
    [IDEMPOTENCY_KEY_ATTRIBUTE]: { DataType: 'String', StringValue: letter.idempotencyKey ?? letter.id },
    ...(entry !== undefined && { [DEAD_LETTER_ID_ATTRIBUTE]: { DataType: 'String', StringValue: entry } }),
  };
}

export const run: CommandRun = async ({ values }, ctx) => {
  const ids = list(values['id']);
  const target = ctx.target();
  const queueUrl = target.queueUrl();
  const dlqUrl = target.dlqUrl();
  const sqs = await target.sqs();
  const letters = await receiveDeadLetters(sqs, dlqUrl, { max: ids.length ? 10_000 : 1_000 });
  const wanted = ids.length ? letters.filter((l) => ids.includes(l.id)) : letters;
  const notFound = ids.filter((id) => !letters.some((l) => l.id === id));

  const redriven: { id: string; messageId: string }[] = [];
  const failed: { id: string; error: string }[] = [];
  const keep: DeadLetter[] = letters.filter((l) => !wanted.includes(l));
  for (const letter of wanted) {
    try {
      // The idempotency key travels along, so a body without its own `idempotencyKey` keeps the
      // key (and Message-ID) it had: recipients already delivered are not sent again. A message the
      // queue's redrive policy moved keeps its SQS id, which was its fallback key.
      const sent = await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: letter.body, MessageAttributes: redriveAttributes(letter) }));
      // sent first, deleted second: a crash in between duplicates the entry, never loses it
      await remove(sqs, dlqUrl, letter);
      redriven.push({ id: letter.id, messageId: sent.MessageId ?? '' });
      if (!ctx.json) ctx.io.out(`redriven ${letter.id} → ${sent.MessageId ?? '?'}${letter.reason ? `  (was ${letter.reason})` : ''}`);
    } catch (error) {
      keep.push(letter);
      failed.push({ id: letter.id, error: error instanceof Error ? error.message : String(error) });
    }
  }
  await release(sqs, dlqUrl, keep);

  const ok = failed.length === 0 && notFound.length === 0;
  if (ctx.json) {
    printJson(ctx.io, { queueUrl, dlqUrl, redriven, failed, notFound });
    return ok ? 0 : 1;
  }
  for (const f of failed) ctx.io.err(`FAILED ${f.id}: ${f.error}`);
  for (const id of notFound) ctx.io.err(`not found in the DLQ: ${id}`);
  const summary = `Redrove ${plural(redriven.length, 'message')} to ${queueUrl}${failed.length ? `; ${failed.length} failed` : ''}${notFound.length ? `; ${notFound.length} not found` : ''}${keep.length - failed.length > 0 ? `; ${keep.length - failed.length} left in the DLQ` : ''}.`;
  (ok ? ctx.io.out : ctx.io.err)(summary);
  return ok ? 0 : 1;
};
