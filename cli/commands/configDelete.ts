/** `mailrelay config delete SCOPE`. */
import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import type { CommandRun } from '../command.js';
import { printJson } from '../io.js';
import { scopeOperand } from '../scopes.js';

export const run: CommandRun = async ({ positionals }, ctx) => {
  const scope = scopeOperand('config delete', positionals);
  const target = ctx.target();
  const table = target.configTable();
  const { Attributes } = await (await target.dynamo()).send(new DeleteCommand({ TableName: table, Key: { scope }, ReturnValues: 'ALL_OLD' }));
  const deleted = Attributes !== undefined;
  if (ctx.json) printJson(ctx.io, { table, scope, deleted });
  else if (deleted) ctx.io.out(`Deleted ${scope} from ${table}.`);
  else ctx.io.err(`No item for ${scope} in ${table}: nothing deleted.`);
  return deleted ? 0 : 1;
};
