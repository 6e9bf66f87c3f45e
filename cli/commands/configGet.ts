/** `mailrelay config get SCOPE`: one stored item, as stored (inline secret values masked). */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { CommandRun } from '../command.js';
import { printJson } from '../io.js';
import { maskInlineValues } from '../redact.js';
import { scopeOperand } from '../scopes.js';

export const run: CommandRun = async ({ positionals }, ctx) => {
  const scope = scopeOperand('config get', positionals);
  const target = ctx.target();
  const table = target.configTable();
  const { Item } = await (await target.dynamo()).send(new GetCommand({ TableName: table, Key: { scope }, ConsistentRead: true }));
  if (!Item) {
    if (ctx.json) printJson(ctx.io, null);
    ctx.io.err(`No item for ${scope} in ${table}.`);
    return 1;
  }
  printJson(ctx.io, maskInlineValues(Item));
  return 0;
};
