/** `mailrelay dlq purge ID... | --all --yes`: delete dead-lettered messages for good. */
import type { CommandRun } from '../command.js';
import { receiveDeadLetters, release, remove, type DeadLetter } from '../dlq/deadLetters.js';
import { UsageError } from '../errors.js';
import { plural, printJson } from '../io.js';

export const run: CommandRun = async ({ values, positionals }, ctx) => {
  const all = values['all'] === true;
  const confirmed = values['yes'] === true;
  if (all && positionals.length) throw new UsageError('give message ids or --all, not both', 'dlq purge');
  if (!all && positionals.length === 0) throw new UsageError('give the DLQ message ids to delete (from mailrelay dlq list), or --all', 'dlq purge');
  const target = ctx.target();
  const url = target.dlqUrl();
  const sqs = await target.sqs();
  const letters = await receiveDeadLetters(sqs, url, { max: 10_000 });
  const wanted = all ? letters : letters.filter((l) => positionals.includes(l.id));
  const notFound = all ? [] : positionals.filter((id) => !letters.some((l) => l.id === id));

  if (!confirmed) {
    await release(sqs, url, letters);
    if (ctx.json) printJson(ctx.io, { dlqUrl: url, deleted: [], wouldDelete: wanted.map((l) => l.id), notFound, confirmed: false });
    else {
      for (const l of wanted) ctx.io.out(`would delete ${l.id}  ${l.reason ?? '(no reason)'}  ${l.recipients.join(', ')}`);
      for (const id of notFound) ctx.io.err(`not found in the DLQ: ${id}`);
      ctx.io.err(`Nothing deleted: add --yes to delete ${plural(wanted.length, 'message')} for good (they cannot be redriven afterwards).`);
    }
    return 2;
  }

  const deleted: string[] = [];
  const failed: { id: string; error: string }[] = [];
  const keep: DeadLetter[] = letters.filter((l) => !wanted.includes(l));
  for (const letter of wanted) {
    try {
      await remove(sqs, url, letter);
      deleted.push(letter.id);
      if (!ctx.json) ctx.io.out(`deleted ${letter.id}${letter.reason ? `  (${letter.reason})` : ''}`);
    } catch (error) {
      keep.push(letter);
      failed.push({ id: letter.id, error: error instanceof Error ? error.message : String(error) });
    }
  }
  await release(sqs, url, keep);
  const ok = failed.length === 0 && notFound.length === 0;
  if (ctx.json) {
    printJson(ctx.io, { dlqUrl: url, deleted, failed, notFound, confirmed: true });
    return ok ? 0 : 1;
  }
  for (const f of failed) ctx.io.err(`FAILED ${f.id}: ${f.error}`);
  for (const id of notFound) ctx.io.err(`not found in the DLQ: ${id}`);
  (ok ? ctx.io.out : ctx.io.err)(`Deleted ${plural(deleted.length, 'message')} from ${url}.`);
  return ok ? 0 : 1;
};
