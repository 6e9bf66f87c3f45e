/**
 * `mailrelay routes`: each relay the config names, with its limits, and what the fleet is doing
 * with it right now (docs/limits.md): connection leases in use, the rate in use, throttle steps,
 * suspension. Reads the config table and the relay-state table (one scan each).
 */
import { ScanCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DEFAULT_MAX_CONNECTIONS, mergeRelays, relayId } from '../../lambda/core/config/resolve.js';
import { parseConfigItem, type ConfigItem, type LimitSettings } from '../../lambda/core/config/schema.js';
import { ConfigValidationError } from '../../lambda/core/errors.js';
import { gcraParameters } from '../../lambda/core/relayLimiter.js';
import type { CommandRun } from '../command.js';
import { str } from '../command.js';
import { UsageError } from '../errors.js';
import { age, printJson, table } from '../io.js';

/** The relay-state table, when neither --relay-state-table nor --local names it. */
export const RELAY_STATE_TABLE_ENV = 'MAILRELAY_RELAY_STATE_TABLE';

/** What the config says about one relay: the scopes that send through it and the limits each sets. */
interface ConfiguredRelay {
  readonly relay: string;
  readonly scopes: { scope: string; maxConnections: number; messagesPerSecond?: number | undefined; perUser: boolean }[];
}

/** What the relay-state table holds about one limit key (`host:port` or `host:port#user`). */
export interface RelayState {
  readonly key: string;
  leases: number;
  /** GCRA arrival time (epoch ms). */
  tat?: number | undefined;
  throttleLevel?: number | undefined;
  throttledAt?: number | undefined;
  suspension?: { until: number; reason: string; detail?: string | undefined; probeUntil?: number | undefined; since?: number | undefined } | undefined;
}

export const run: CommandRun = async ({ values }, ctx) => {
  const target = ctx.target();
  const stateTable = str(values['relay-state-table']) ?? target.state?.relayStateTable ?? ctx.env[RELAY_STATE_TABLE_ENV]?.trim();
  if (!stateTable) throw new UsageError(`no relay state table: pass --relay-state-table or set ${RELAY_STATE_TABLE_ENV} (or use --local for the stand-ins of npm start)`, 'routes');
  const configTable = target.configTable();
  const dynamo = await target.dynamo();
  const now = Date.now();
  const configured = configuredRelays(await scan(dynamo, configTable));
  const states = relayStates(await scan(dynamo, stateTable), now);

  const keys = new Set([...configured.keys(), ...states.keys()]);
  const rows = [...keys].sort().map((key) => describe(key, configured.get(relayOf(key)), states.get(key), now));

  if (ctx.json) {
    printJson(ctx.io, { configTable, relayStateTable: stateTable, relays: rows });
    return 0;
  }
  if (rows.length === 0) {
    ctx.io.out(`No relay in ${configTable} and no state in ${stateTable}.`);
    return 0;
  }
  const lines: string[][] = [['RELAY', 'LIMITS', 'LEASES', 'RATE', 'THROTTLE', 'SUSPENSION']];
  for (const r of rows) {
    lines.push([
      r.relay,
      r.limits,
      `${r.leasesInUse}/${r.maxConnections ?? '?'}`,
      r.rate,
      r.throttleLevel > 0 ? `level ${r.throttleLevel} (rate ×1/${2 ** r.throttleLevel}, ${r.throttleLevel} conn fewer) since ${r.throttledAgo} ago` : '-',
      r.suspension,
    ]);
  }
  table(lines).forEach((line) => ctx.io.out(line));
  ctx.io.out(`\nLeases and rate are the whole fleet's, from ${stateTable}; limits are from ${configTable}.`);
  return 0;
};

async function scan(dynamo: DynamoDBDocumentClient, tableName: string): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await dynamo.send(new ScanCommand({ TableName: tableName, ExclusiveStartKey: start, ConsistentRead: true }));
    items.push(...((page.Items ?? []) as Record<string, unknown>[]));
    start = page.LastEvaluatedKey as Record<string, unknown> | undefined;
  } while (start);
  return items;
}

/** Each item that names a relay (on its own or over the global item), with the limits that apply there. */
export function configuredRelays(raw: readonly Record<string, unknown>[]): Map<string, ConfiguredRelay> {
  const items: ConfigItem[] = [];
  for (const item of raw) {
    try {
      items.push(parseConfigItem(item));
    } catch (error) {
      if (!(error instanceof ConfigValidationError)) throw error;
    }
  }
  const global = items.find((i) => i.scope === 'global');
  const relays = new Map<string, ConfiguredRelay>();
  for (const item of items) {
    if (item.relay === undefined && item.scope !== 'global') continue;
    const layers = [...(global && item !== global ? [{ origin: 'global', item: global }] : []), { origin: item.scope, item }];
    const limits: LimitSettings = { ...global?.limits, ...item.limits };
    for (const relay of mergeRelays(layers, 'example.invalid', {})) {
      if (relay.host === '') continue;
      const id = relayId(relay);
      const entry = relays.get(id) ?? { relay: id, scopes: [] };
      entry.scopes.push({ scope: item.scope, maxConnections: limits.maxConnections ?? DEFAULT_MAX_CONNECTIONS, messagesPerSecond: limits.messagesPerSecond, perUser: limits.perUser ?? false });
      relays.set(id, entry);
    }
  }
  return relays;
}

/** The relay-state items grouped by limit key; lapsed leases are not counted. */
export function relayStates(items: readonly Record<string, unknown>[], now: number): Map<string, RelayState> {
  const states = new Map<string, RelayState>();
  const state = (key: string): RelayState => {
    let found = states.get(key);
    if (!found) {
      found = { key, leases: 0 };
      states.set(key, found);
    }
    return found;
  };
  for (const item of items) {
    const pk = String(item['pk'] ?? '');
    const num = (name: string): number | undefined => (typeof item[name] === 'number' ? (item[name] as number) : undefined);
    if (pk.startsWith('lease#')) {
      const key = pk.slice('lease#'.length).replace(/#\d+$/, '');
      const s = state(key);
      if ((num('leaseExpiresAt') ?? 0) > now) s.leases += 1;
    } else if (pk.startsWith('rate#')) {
      const s = state(pk.slice('rate#'.length));
      s.tat = num('tat');
      s.throttleLevel = num('throttleLevel');
      s.throttledAt = num('throttledAt');
    } else if (pk.startsWith('suspension#')) {
      const until = num('until');
      if (until === undefined) continue;
      state(pk.slice('suspension#'.length)).suspension = {
        until,
        reason: typeof item['reason'] === 'string' ? item['reason'] : 'unknown',
        detail: typeof item['detail'] === 'string' ? item['detail'] : undefined,
        probeUntil: num('probeUntil'),
        since: num('since'),
      };
    }
  }
  return states;
}

const relayOf = (key: string): string => key.split('#')[0]!;

function describe(key: string, config: ConfiguredRelay | undefined, state: RelayState | undefined, now: number) {
  const scopes = config?.scopes ?? [];
  const maxConnections = scopes.length ? Math.max(...scopes.map((s) => s.maxConnections)) : undefined;
  const rates = [...new Set(scopes.map((s) => s.messagesPerSecond))];
  const rate = rates.length === 1 ? rates[0] : undefined;
  const limits = scopes.length
    ? [...new Set(scopes.map((s) => `${s.maxConnections} conns${s.messagesPerSecond !== undefined ? `, ${s.messagesPerSecond} msg/s` : ''}${s.perUser ? ' per user' : ''}`))].join(' | ') +
      ` (${scopes.map((s) => s.scope).join(', ')})`
    : '(no config item names this relay)';
  return {
    relay: key,
    limits,
    scopes,
    maxConnections,
    leasesInUse: state?.leases ?? 0,
    rate: rateInUse(state?.tat, rate, now),
    throttleLevel: state?.throttleLevel ?? 0,
    throttledAgo: state?.throttledAt !== undefined ? age(state.throttledAt, now) : undefined,
    suspension: suspensionText(state?.suspension, now),
  };
}

/** How much of the relay's rate the fleet uses now: the GCRA backlog as a share of the one-second burst. */
function rateInUse(tat: number | undefined, messagesPerSecond: number | undefined, now: number): string {
  if (messagesPerSecond === undefined) return tat === undefined ? 'no limit' : 'no limit (state from an earlier limit)';
  if (tat === undefined || tat <= now) return `idle (0 of ${messagesPerSecond}/s in use)`;
  const { intervalMs } = gcraParameters(messagesPerSecond);
  const queued = Math.ceil((tat - now) / intervalMs);
  return `busy: ${queued} sent in the last second's burst (limit ${messagesPerSecond}/s)`;
}

function suspensionText(s: RelayState['suspension'], now: number): string {
  if (!s) return '-';
  if (s.until > now) return `suspended for ${Math.ceil((s.until - now) / 1000)} s (${s.reason}${s.detail ? `: ${s.detail}` : ''})`;
  if (s.probeUntil !== undefined && s.probeUntil > now) return `probing (${s.reason})`;
  return `probe due (${s.reason})`;
}
