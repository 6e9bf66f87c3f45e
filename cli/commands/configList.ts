/** `mailrelay config list`: every item, one line each, with what it sets. */
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { validateStoredItem } from '../../lambda/core/config/resolve.js';
import type { ConfigItem } from '../../lambda/core/config/schema.js';
import { isSubmitterScope, parseSubmitterItem, type SubmitterItem } from '../../lambda/core/config/submitter.js';
import { ConfigValidationError, formatIssues } from '../../lambda/core/errors.js';
import { describeKeysource } from '../../lambda/core/keysources.js';
import type { CommandRun } from '../command.js';
import { plural, printJson, table } from '../io.js';
import { maskInlineValues } from '../redact.js';

/** Global first, then groups, bindings and domains, each alphabetically. */
const ORDER = ['global', 'binding-group#', 'binding#', 'domain#', 'submitter#'];
const rank = (scope: string): number => ORDER.findIndex((prefix) => scope === prefix || scope.startsWith(prefix));

export const run: CommandRun = async (_parsed, ctx) => {
  const target = ctx.target();
  const tableName = target.configTable();
  const items: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await (await target.dynamo()).send(new ScanCommand({ TableName: tableName, ExclusiveStartKey: start, ConsistentRead: true }));
    items.push(...((page.Items ?? []) as Record<string, unknown>[]));
    start = page.LastEvaluatedKey as Record<string, unknown> | undefined;
  } while (start);
  items.sort((a, b) => rank(String(a['scope'])) - rank(String(b['scope'])) || String(a['scope']).localeCompare(String(b['scope'])));

  if (ctx.json) {
    printJson(ctx.io, { table: tableName, items: items.map(maskInlineValues) });
    return 0;
  }
  if (items.length === 0) {
    ctx.io.out(`No items in ${tableName}.`);
    return 0;
  }
  const rows: string[][] = [['SCOPE', 'SETS', 'UPDATED']];
  let broken = 0;
  for (const raw of items) {
    let sets = '';
    // as the worker validates it: the item, and (a config item) the scope it is stored under
    let problem: ConfigValidationError | undefined;
    if (isSubmitterScope(raw)) {
      try {
        sets = summarizeSubmitter(parseSubmitterItem(raw));
      } catch (error) {
        if (!(error instanceof ConfigValidationError)) throw error;
        problem = error;
      }
    } else {
      const item = validateStoredItem(String(raw['scope']), raw);
      if (item instanceof ConfigValidationError) problem = item;
      else sets = summarize(item);
    }
    if (problem) {
      broken++;
      sets = `INVALID: ${formatIssues(problem.issues)}`;
    }
    rows.push([String(raw['scope']), sets, typeof raw['updatedAt'] === 'string' ? raw['updatedAt'].replace(/\.\d+Z$/, 'Z') : '-']);
  }
  table(rows).forEach((line) => ctx.io.out(line));
  ctx.io.out(`\n${plural(items.length, 'item')} in ${tableName}${broken ? `, ${broken} INVALID` : ''}.`);
  return 0;
};

/** `relay smtp.example:587 starttls; auth LOGIN user=x pass=secret:...; limits maxConnections=2; group tenants`. */
export function summarize(item: ConfigItem): string {
  const parts: string[] = [];
  if (item.group) parts.push(`group ${item.group}`);
  if (item.producers) parts.push(`producers ${item.producers.join(',')}`);
  if (item.relay) {
    // A failover list reads `relay a:587 starttls, then b:465 implicit`.
    const relays = Array.isArray(item.relay) ? item.relay : [item.relay];
    const one = (r: (typeof relays)[number]): string => {
      const where = r.host ? `${r.host}${r.port ? `:${r.port}` : ''}` : r.port ? `port ${r.port}` : '';
      const rest = Object.entries(r)
        .filter(([k]) => k !== 'host' && k !== 'port')
        .map(([k, v]) => (k === 'tls' ? String(v) : `${k}=${String(v)}`));
      return [where, ...rest].filter(Boolean).join(' ');
    };
    parts.push(`relay ${relays.map(one).join(', then ')}`);
  }
  if (item.delivery) {
    parts.push(`delivery ${Object.entries(item.delivery).map(([k, v]) => `${k}=${String(v)}`).join(' ')}`);
  }
  if (item.auth) {
    const a = item.auth;
    const bits = [
      a.type,
      a.user ? `user=${a.user}` : undefined,
      a.pass ? `pass=${describeKeysource(a.pass)}` : undefined,
      a.key ? `key=${a.key}` : undefined,
      a.oauth2 ? `oauth2 client=${a.oauth2.clientId}` : undefined,
      a.messageKeysources ? `messageKeysources=${a.messageKeysources.join(',')}` : undefined,
    ].filter(Boolean);
    parts.push(`auth ${bits.join(' ')}`);
  }
  if (item.limits) parts.push(`limits ${Object.entries(item.limits).map(([k, v]) => `${k}=${String(v)}`).join(' ')}`);
  return parts.join('; ') || '(nothing)';
}

/** `submitter binding=acme from=acme.example authz=billing pass=secret:... login`. */
export function summarizeSubmitter(item: SubmitterItem): string {
  const parts = [`binding=${item.binding}`, `from=${item.fromDomains.join(',')}`];
  if (item.authz.length) parts.push(`authz=${item.authz.join(',')}`);
  parts.push(`pass=${describeKeysource(item.password)}`);
  if (item.allowLogin) parts.push('login');
  return `submitter ${parts.join(' ')}`;
}
