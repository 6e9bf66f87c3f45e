/** `mailrelay config put FILE`: validate config items, then write them. */
import { readFile } from 'node:fs/promises';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { parseConfigItem, type ConfigItem } from '../../lambda/core/config/schema.js';
import { isSubmitterScope, parseSubmitterItem, type SubmitterItem } from '../../lambda/core/config/submitter.js';
import { ConfigValidationError, type FieldIssue } from '../../lambda/core/errors.js';
import type { CommandRun } from '../command.js';
import { CliError, UsageError } from '../errors.js';
import { plural, printJson } from '../io.js';
import { fillPlaceholders, relayPlaceholders } from '../placeholders.js';

export const run: CommandRun = async ({ positionals }, ctx) => {
  if (positionals.length !== 1) throw new UsageError(`give exactly one FILE (got ${positionals.length})`, 'config put');
  const file = positionals[0]!;
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new CliError(`${file}: ${(error as Error).message}`);
  }
  const target = ctx.target();
  const raw = Array.isArray(json) ? json : [json];
  const local = target.state;

  const items: (ConfigItem | SubmitterItem)[] = [];
  const invalid: { index: number; scope: string | undefined; issues: readonly FieldIssue[] }[] = [];
  const seen = new Map<string, number>();
  raw.forEach((candidate, index) => {
    try {
      // submitter#<name> items are the gateway's (docs/design.md §3.1), validated by their own schema.
      const item = isSubmitterScope(candidate) ? parseSubmitterItem(candidate) : parseConfigItem(local ? fillPlaceholders(candidate, relayPlaceholders(local.relay)) : candidate);
      const earlier = seen.get(item.scope);
      if (earlier !== undefined) {
        invalid.push({ index, scope: item.scope, issues: [{ path: 'scope', message: `item [${earlier}] has the same scope` }] });
        return;
      }
      seen.set(item.scope, index);
      items.push(item);
    } catch (error) {
      if (!(error instanceof ConfigValidationError)) throw error;
      invalid.push({ index, scope: error.scope, issues: error.issues });
    }
  });

  if (invalid.length > 0) {
    if (ctx.json) printJson(ctx.io, { written: [], invalid });
    else {
      for (const i of invalid) {
        for (const issue of i.issues) ctx.io.err(`${file} [${i.index}]${i.scope ? ` ${i.scope}` : ''}: ${issue.path}: ${issue.message}`);
      }
      ctx.io.err(`Nothing written: ${plural(invalid.length, 'invalid item')} of ${raw.length}.`);
    }
    return 1;
  }

  const table = target.configTable();
  const updatedAt = new Date().toISOString();
  const written: string[] = [];
  for (const item of items) {
    await (await target.dynamo()).send(new PutCommand({ TableName: table, Item: { ...item, updatedAt } }));
    written.push(item.scope);
    if (!ctx.json) ctx.io.out(`put ${item.scope}`);
  }
  if (ctx.json) printJson(ctx.io, { table, written, updatedAt, invalid: [] });
  else ctx.io.out(`Wrote ${plural(written.length, 'item')} to ${table}.`);
  return 0;
};
