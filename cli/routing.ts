/**
 * The routes a message would take, as the worker resolves them (lambda/core/config/resolve.ts):
 * for `config explain` and `check`. Addresses and the binding are validated as in a queue message.
 */
import {
  bindingLayers,
  bindingScope,
  mergeLayers,
  resolveRoutes,
  routeKey,
  routeLabel,
  validateStoredItem,
  type RouteFailure,
  type RouteGroup,
} from '../lambda/core/config/resolve.js';
import { NAME_PATTERN, type MessageAuthOverride } from '../lambda/core/config/schema.js';
import { ConfigValidationError, MessageValidationError, formatIssues } from '../lambda/core/errors.js';
import { parseMailbox, parseQueueMessage } from '../lambda/core/message/index.js';
import type { MailAddress } from '../lambda/core/message/types.js';
import type { ConfigStore } from '../lambda/core/ports.js';
import { UsageError } from './errors.js';

export interface RouteQuery {
  readonly from?: MailAddress | undefined;
  readonly to: readonly MailAddress[];
  /** Lower-cased. */
  readonly binding?: string | undefined;
  readonly bindingSource: 'option' | 'message' | 'sender-domain' | 'none';
  readonly auth?: MessageAuthOverride | undefined;
}

export interface RouteAnswer {
  readonly binding: string | undefined;
  readonly bindingSource: RouteQuery['bindingSource'];
  /** The default EHLO name. */
  readonly senderDomain: string;
  readonly routes: readonly RouteGroup[];
  readonly failures: readonly RouteFailure[];
  /**
   * Who may send messages for the binding (docs/producers.md): the binding item's `producers`, or
   * undefined when any producer may (no item, or an item without `producers`).
   */
  readonly producers?: readonly string[] | undefined;
}

/**
 * Builds a query from `--from`, `--to` and `--binding`.
 * @throws UsageError naming the bad option.
 */
export function queryFromOptions(command: string, options: { from?: string | undefined; to?: readonly string[] | undefined; binding?: string | undefined }): RouteQuery {
  const address = (flag: string, value: string): MailAddress => {
    const result = parseMailbox(value);
    if (!result.ok) throw new UsageError(`--${flag} ${JSON.stringify(value)}: ${result.reason}`, command);
    return result.address;
  };
  const from = options.from === undefined ? undefined : address('from', options.from);
  const to = (options.to ?? []).map((value) => address('to', value));
  if (options.binding !== undefined && !NAME_PATTERN.test(options.binding)) {
    throw new UsageError(`--binding ${JSON.stringify(options.binding)}: must be 1-128 letters, digits, ".", "_" or "-"`, command);
  }
  const binding = options.binding?.toLowerCase() ?? from?.domain;
  return { from, to: dedupe(to), binding, bindingSource: options.binding !== undefined ? 'option' : from ? 'sender-domain' : 'none' };
}

/**
 * Builds a query from a queue message file (its sender, recipients, binding and auth override).
 * @throws UsageError when the message is invalid.
 */
export function queryFromMessage(command: string, file: string, body: string): RouteQuery {
  try {
    const message = parseQueueMessage(body, { fallbackIdempotencyKey: 'explain' });
    return {
      from: message.sender,
      to: message.envelope.to,
      binding: message.binding,
      bindingSource: message.bindingSource,
      auth: message.auth,
    };
  } catch (error) {
    if (error instanceof MessageValidationError) throw new UsageError(`${file} is not a valid message: ${formatIssues(error.issues)}`, command, { cause: error });
    throw error;
  }
}

/** Resolves the routes of a query. With no recipient, the route of the binding alone (global, group, binding). */
export async function resolveQuery(query: RouteQuery, store: ConfigStore): Promise<RouteAnswer> {
  const senderDomain = query.from?.domain ?? query.binding ?? query.to[0]?.domain ?? 'localhost.invalid';
  const base = { binding: query.binding, bindingSource: query.bindingSource, senderDomain, producers: await bindingProducers(query.binding, store) };
  if (query.to.length > 0) {
    // No binding: 'binding#' names no item, so only global and domain scopes apply.
    const resolution = await resolveRoutes({ binding: query.binding ?? '', senderDomain, recipients: query.to, auth: query.auth }, store);
    return { ...base, ...resolution };
  }
  return { ...base, ...(await resolveBindingOnly(query, senderDomain, store)) };
}

async function resolveBindingOnly(query: RouteQuery, senderDomain: string, store: ConfigStore): Promise<Pick<RouteAnswer, 'routes' | 'failures'>> {
  const fail = (error: ConfigValidationError) => ({ routes: [], failures: [{ recipients: [], error }] });
  const layers = await bindingLayers(query.binding ?? '', store);
  if (layers instanceof ConfigValidationError) return fail(layers);
  if (query.auth) layers.push({ origin: 'message', item: { auth: query.auth } });
  const merged = mergeLayers(layers, senderDomain);
  if (merged instanceof ConfigValidationError) return fail(merged);
  return { routes: [{ ...merged, recipients: [], key: routeKey(merged.settings), label: routeLabel(merged.settings) }], failures: [] };
}

/** The binding item's `producers`; undefined when there is no binding, no item, no list, or the item is invalid (routing reports that). */
async function bindingProducers(binding: string | undefined, store: ConfigStore): Promise<readonly string[] | undefined> {
  if (!binding) return undefined;
  const scope = bindingScope(binding);
  const raw = (await store.getItems([scope])).get(scope);
  const item = raw === undefined ? undefined : validateStoredItem(scope, raw);
  return item instanceof ConfigValidationError ? undefined : item?.producers;
}

function dedupe(addresses: readonly MailAddress[]): MailAddress[] {
  const seen = new Map<string, MailAddress>();
  for (const a of addresses) if (!seen.has(a.address)) seen.set(a.address, a);
  return [...seen.values()];
}
