/** `mailrelay dlq redrive`: send dead-lettered messages back to the main queue. */
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { IDEMPOTENCY_KEY_ATTRIBUTE, SOURCE_MESSAGE_ID_ATTRIBUTE } from '../../lambda/worker/types.js';
import type { CommandRun } from '../command.js';
import { list } from '../command.js';
import { receiveDeadLetters, release, remove, type DeadLetter } from '../dlq/deadLetters.js';
import { plural, printJson } from '../io.js';

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
      // queue's redrive policy moved keeps its SQS id, which was its fallback key. The entry's source
      // id travels too: a second redrive of the same entry (an SQS copy, or an entry this loop
      // duplicated by a crash below) finds the key redriven from it and is not sent again.
      const key = letter.idempotencyKey ?? letter.id;
      const source = letter.sourceMessageId ?? letter.id;
      const attributes = { [IDEMPOTENCY_KEY_ATTRIBUTE]: { DataType: 'String', StringValue: key }, [SOURCE_MESSAGE_ID_ATTRIBUTE]: { DataType: 'String', StringValue: source } };
      const sent = await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: letter.body, MessageAttributes: attributes }));
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
