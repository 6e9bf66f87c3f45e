/**
 * `mailrelay config explain`: the effective settings a message would get, per recipient group,
 * and the scope each field came from. Secrets show as references, never values.
 */
import { readFile } from 'node:fs/promises';
import { SETTING_FIELDS, type RouteGroup } from '../../lambda/core/config/resolve.js';
import type { CommandRun } from '../command.js';
import { list, str } from '../command.js';
import { configStore } from '../configStore.js';
import { CliError, UsageError } from '../errors.js';
import { plural, printJson, table } from '../io.js';
import { displayValue, printableSettings } from '../redact.js';
import { cliAuthHook, throughHook } from '../authHook.js';
import { queryFromMessage, queryFromOptions, resolveQuery, withAuthKey, type RouteAnswer, type RouteQuery } from '../routing.js';

export const run: CommandRun = async ({ values }, ctx) => {
  const cmd = 'config explain';
  const messageFile = str(values['message']);
  let query: RouteQuery;
  if (messageFile !== undefined) {
    if (values['from'] !== undefined || values['to'] !== undefined || values['binding'] !== undefined) {
      throw new UsageError('--message takes sender, recipients and binding from the file: drop --from, --to and --binding', cmd);
    }
    let body: string;
    try {
      body = await readFile(messageFile, 'utf8');
    } catch (error) {
      throw new CliError(`${messageFile}: ${(error as Error).message}`);
    }
    query = queryFromMessage(cmd, messageFile, body);
  } else {
    if (values['from'] === undefined) throw new UsageError('give --from ADDR (or --message FILE)', cmd);
    if (list(values['to']).length === 0) throw new UsageError('give at least one --to ADDR', cmd);
    query = queryFromOptions(cmd, { from: str(values['from']), to: list(values['to']), binding: str(values['binding']) });
  }

  query = withAuthKey(cmd, query, str(values['auth-key']));
  const target = ctx.target();
  const hook = await cliAuthHook(cmd, target, str(values['auth-hook']));
  const resolved = await resolveQuery(query, await configStore(target), { authHook: hook.hasModule });
  // The hook's contribution, as the worker would get it for a sample of this message (origin `hook`).
  const hookErrors = new Map<RouteGroup, string>();
  const routes: RouteGroup[] = [];
  for (const route of resolved.routes) {
    const through = await throughHook(hook, route, query);
    routes.push(through.route);
    if (through.error) hookErrors.set(through.route, through.error.message);
  }
  const answer = { ...resolved, routes };
  if (ctx.json) printJson(ctx.io, toJson(answer, hookErrors));
  else printAnswer(answer, hookErrors, ctx.io.out);
  return answer.failures.length > 0 || hookErrors.size > 0 ? 1 : 0;
};

function toJson(answer: RouteAnswer, hookErrors: ReadonlyMap<RouteGroup, string>): unknown {
  return {
    binding: answer.binding ?? null,
    bindingSource: answer.bindingSource,
    senderDomain: answer.senderDomain,
    producers: answer.producers ?? null,
    routes: answer.routes.map((route) => ({
      label: route.label,
      recipients: route.recipients.map((r) => r.address),
      settings: printableSettings(route.settings),
      origins: route.origins,
      ...(hookErrors.has(route) ? { hookError: hookErrors.get(route) } : {}),
    })),
    failures: answer.failures.map((f) => ({
      recipients: f.recipients.map((r) => r.address),
      scope: f.error.scope ?? null,
      error: f.error.message,
      issues: f.error.issues,
    })),
  };
}

const BINDING_SOURCE: Record<RouteAnswer['bindingSource'], string> = {
  option: '--binding',
  message: "the message's binding field",
  'sender-domain': "the sender's domain",
  none: 'none given',
};

function printAnswer(answer: RouteAnswer, hookErrors: ReadonlyMap<RouteGroup, string>, out: (line: string) => void): void {
  out(`Binding: ${answer.binding ?? '(none)'} (${BINDING_SOURCE[answer.bindingSource]})`);
  if (answer.binding) {
    out(
      answer.producers
        ? `Producers: ${answer.producers.join(', ')} (binding#${answer.binding}; any other producer is refused: producer-not-allowed)`
        : `Producers: any (binding#${answer.binding} lists no producers)`,
    );
  }
  answer.routes.forEach((route, i) => {
    out('');
    out(`Route ${i + 1} of ${answer.routes.length}: ${route.label}`);
    if (route.recipients.length) out(`  recipients: ${route.recipients.map((r) => r.address).join(', ')}`);
    out('');
    table([['  FIELD', 'VALUE', 'FROM'], ...fieldRows(route)]).forEach((line) => out(line));
    const hookError = hookErrors.get(route);
    if (hookError) {
      out('');
      out(`  auth hook: ${hookError}`);
    }
  });
  for (const failure of answer.failures) {
    out('');
    out(`Cannot route ${failure.recipients.length ? failure.recipients.map((r) => r.address).join(', ') : 'this binding'}: ${failure.error.message}`);
  }
  out('');
  out(
    `${plural(answer.routes.length, 'route')}${answer.routes.length > 1 ? ' (one SMTP transaction each)' : ''}${answer.failures.length ? `; ${plural(answer.failures.reduce((n, f) => n + f.recipients.length, 0), 'recipient')} cannot be routed` : ''}.`,
  );
}

function fieldRows(route: RouteGroup): string[][] {
  const rows = SETTING_FIELDS.map((field) => {
    let value = displayValue(field, route.settings);
    const origin = route.origins[field];
    if (value === undefined && field === 'auth.user' && !route.settings.auth.hookPass && route.settings.auth.pass && 'secret' in route.settings.auth.pass) value = '(the secret\'s "username")';
    if (field === 'auth.pass' && route.settings.auth.hookPass) value = `(a literal secret, fingerprint ${route.settings.auth.hookPass.fingerprint})`;
    return [`  ${field}`, value ?? '-', origin ?? '-'];
  });
  // The failover relays after the first: one row each, tried in this order when a relay refuses the session.
  const failover = route.settings.relays.slice(1).map((relay, i) => {
    const at = `relay[${i + 1}]`;
    return [`  ${at}`, `${relay.host}:${relay.port} ${relay.tls}${relay.verifyCertificate ? '' : ' (certificate not verified)'} (failover)`, route.origins[`${at}.host`] ?? '-'];
  });
  const relayRows = rows.filter(([field]) => field!.startsWith('  relay.'));
  return [...relayRows, ...failover, ...rows.filter(([field]) => !field!.startsWith('  relay.'))];
}
