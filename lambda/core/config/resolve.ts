/**
 * Scope resolution (docs/design.md §2): global < binding group < binding < domain < message, each field
 * resolved on its own, and which scope each field came from (what `mailrelay config explain` prints).
 * Recipients whose effective settings differ are grouped into separate deliveries.
 */
import type { HookSecret } from '../authHook/hookSecret.js';
import { ConfigValidationError, type FieldIssue } from '../errors.js';
import { LruCache } from '../lruCache.js';
import type { MailAddress } from '../message/types.js';
import type { ConfigStore } from '../ports.js';
import { isUnderPrefix } from '../secretPrefix.js';
import {
  parseConfigItem,
  type AuthType,
  type ConfigItem,
  type DeliverySettings,
  type DkimAlgorithm,
  type Keysource,
  type MessageAuthOverride,
  type OAuth2Client,
  type RelaySettings,
  type TlsMode,
} from './schema.js';

/** Where an effective field's value came from: a scope (`global`, `domain#x.example`, ...), `message` or `default`. */
export type SettingOrigin = string;

export interface EffectiveRelay {
  readonly host: string;
  readonly port: number;
  readonly tls: TlsMode;
  readonly allowInsecureAuth: boolean;
  readonly verifyCertificate: boolean;
  readonly ehloName: string;
  readonly timeoutSeconds: number;
}

export interface EffectiveAuth {
  readonly type: AuthType;
  readonly user?: string | undefined;
  readonly pass?: Keysource | undefined;
  readonly key?: string | undefined;
  readonly oauth2?: OAuth2Client | undefined;
  /** Keysource prefixes a message's own `auth.pass` may name on this route; empty: none. */
  readonly messageKeysources: readonly string[];
  /** A Lambda function (ARN or name) to ask for auth fields just before AUTH (docs/design.md §2). */
  readonly hookFunction?: string | undefined;
  /** A literal secret the auth hook answered with, instead of `pass` (never serialized). */
  readonly hookPass?: HookSecret | undefined;
}

export interface EffectiveLimits {
  readonly maxConnections: number;
  readonly maxMessagesPerConnection: number;
  /** Fleet-wide messages per second to the relay; undefined = no rate limit. */
  readonly messagesPerSecond?: number | undefined;
  readonly maxConnectionAgeSeconds: number;
  /** Limits count per authenticated user at the relay (`host:port#user`), not per relay. */
  readonly perUser: boolean;
}

/** The retry policy of a message (docs/design.md §2, `delivery`): same for all its routes. */
export interface EffectiveDelivery {
  readonly maxAgeSeconds: number;
  readonly retryIntervalSeconds: number;
  readonly maxRetryIntervalSeconds: number;
}

/**
 * The DKIM signer of a message (docs/design.md §2 `dkim`): the block of the highest scope that
 * sets one, taken whole (a domain, selector and key belong together), with defaults filled in.
 */
export interface EffectiveDkim {
  readonly domain: string;
  readonly selector: string;
  readonly privateKey: Keysource;
  readonly algorithm: DkimAlgorithm;
  /** The header fields to sign, in order; those absent from a message are left out of `h=`. */
  readonly headers: readonly string[];
}

/**
 * Signed unless `dkim.headers` says otherwise: the fields receivers show and thread on, the MIME
 * structure, and List-Unsubscribe/List-Unsubscribe-Post (RFC 8058 §4 wants them signed).
 */
export const DEFAULT_DKIM_HEADERS: readonly string[] = [
  'From',
  'Sender',
  'Reply-To',
  'To',
  'Cc',
  'Subject',
  'Date',
  'Message-ID',
  'In-Reply-To',
  'References',
  'MIME-Version',
  'Content-Type',
  'Content-Transfer-Encoding',
  'List-Id',
  'List-Unsubscribe',
  'List-Unsubscribe-Post',
];

export interface EffectiveSettings {
  /** The first relay of the route: the one tried first, what logs and `explain` name. */
  readonly relay: EffectiveRelay;
  /** Every relay in failover order; `relays[0]` is `relay`. */
  readonly relays: readonly EffectiveRelay[];
  readonly auth: EffectiveAuth;
  readonly limits: EffectiveLimits;
  readonly delivery: EffectiveDelivery;
  /** Absent: the message is sent unsigned. */
  readonly dkim?: EffectiveDkim | undefined;
}

/** A set of recipients that share every effective setting, so one SMTP transaction serves them. */
export interface RouteGroup {
  readonly settings: EffectiveSettings;
  /** Field path (`relay.host`, `auth.type`, ...) → the scope it came from. */
  readonly origins: Readonly<Record<string, SettingOrigin>>;
  readonly recipients: readonly MailAddress[];
  /** Identical for identical settings: the pool key. Holds keysource references, never secrets. */
  readonly key: string;
  /** Short form for logs and DLQ attributes: `smtp.example:587 starttls PLAIN user=bob`. */
  readonly label: string;
}

/** Recipients that cannot be routed because a config item they need is broken or incomplete. */
export interface RouteFailure {
  readonly recipients: readonly MailAddress[];
  readonly error: ConfigValidationError;
}

export interface RoutingRequest {
  /** Lower-cased binding name (by default the sender's domain). */
  readonly binding: string;
  /** The sender's domain (A-label): the default EHLO name. */
  readonly senderDomain: string;
  readonly recipients: readonly MailAddress[];
  readonly auth?: MessageAuthOverride | undefined;
}

export interface Resolution {
  readonly routes: readonly RouteGroup[];
  readonly failures: readonly RouteFailure[];
  /** The message's retry policy (global, group, binding); absent when those items are broken. */
  readonly delivery?: EffectiveDelivery | undefined;
}

/** Defaults of every field, documented in docs/configuration.md. */
export const DEFAULT_TLS: TlsMode = 'starttls';
export const DEFAULT_PORTS: Readonly<Record<TlsMode, number>> = { starttls: 587, implicit: 465, none: 25 };
export const DEFAULT_TIMEOUT_SECONDS = 30;
export const DEFAULT_MAX_CONNECTIONS = 4;
export const DEFAULT_MAX_MESSAGES_PER_CONNECTION = 100;
/** Retire sessions well before relays do (many drop a session after 5-10 minutes). */
export const DEFAULT_MAX_CONNECTION_AGE_SECONDS = 300;
/** An MTA keeps mail for days (Postfix 5, KumoMTA 7): three days unless a scope says otherwise. */
export const DEFAULT_MAX_AGE_SECONDS = 259_200;
export const DEFAULT_RETRY_INTERVAL_SECONDS = 60;
export const DEFAULT_MAX_RETRY_INTERVAL_SECONDS = 3_600;
export const DEFAULT_DELIVERY: EffectiveDelivery = {
  maxAgeSeconds: DEFAULT_MAX_AGE_SECONDS,
  retryIntervalSeconds: DEFAULT_RETRY_INTERVAL_SECONDS,
  maxRetryIntervalSeconds: DEFAULT_MAX_RETRY_INTERVAL_SECONDS,
};

export const GLOBAL_SCOPE = 'global';
export const bindingScope = (name: string): string => `binding#${name.toLowerCase()}`;
export const bindingGroupScope = (name: string): string => `binding-group#${name.toLowerCase()}`;
export const domainScope = (domain: string): string => `domain#${domain.toLowerCase()}`;

/** The fields resolved one by one, in the order `explain` prints them. */
export const SETTING_FIELDS = [
  'relay.host',
  'relay.port',
  'relay.tls',
  'relay.allowInsecureAuth',
  'relay.verifyCertificate',
  'relay.ehloName',
  'relay.timeoutSeconds',
  'auth.type',
  'auth.user',
  'auth.pass',
  'auth.key',
  'auth.oauth2',
  'auth.messageKeysources',
  'auth.hookFunction',
  'limits.maxConnections',
  'limits.maxMessagesPerConnection',
  'limits.messagesPerSecond',
  'limits.maxConnectionAgeSeconds',
  'limits.perUser',
  'delivery.maxAgeSeconds',
  'delivery.retryIntervalSeconds',
  'delivery.maxRetryIntervalSeconds',
  'dkim.domain',
  'dkim.selector',
  'dkim.privateKey',
  'dkim.algorithm',
  'dkim.headers',
] as const;
export type SettingField = (typeof SETTING_FIELDS)[number];

/** One layer of the precedence stack: a scope's validated item, or the message's own override. */
export interface SettingLayer {
  readonly origin: SettingOrigin;
  readonly item: Pick<ConfigItem, 'relay' | 'auth' | 'limits' | 'delivery' | 'dkim'>;
}

/**
 * Read the items a message needs, validate them and group its recipients by effective settings.
 * Two reads at most: global + binding + recipient domains, then the binding's group if it names one.
 * @example
 * const { routes, failures } = await resolveRoutes({ binding: 'acme.example', senderDomain: 'acme.example', recipients }, store);
 */
export async function resolveRoutes(request: RoutingRequest, store: ConfigStore, options: MergeOptions = {}): Promise<Resolution> {
  const domains = [...new Set(request.recipients.map((r) => r.domain))];
  const first = await store.getItems([GLOBAL_SCOPE, bindingScope(request.binding), ...domains.map(domainScope)]);

  const shared = await bindingLayers(request.binding, store, first);
  if (shared instanceof ConfigValidationError) return { routes: [], failures: [{ recipients: request.recipients, error: shared }] };

  const byKey = new Map<string, MergedRoute & { recipients: MailAddress[] }>();
  const failuresByScope = new Map<string, { error: ConfigValidationError; recipients: MailAddress[] }>();
  const messageLayer: SettingLayer[] = request.auth ? [{ origin: 'message', item: { auth: request.auth } }] : [];

  for (const recipient of request.recipients) {
    const scope = domainScope(recipient.domain);
    const raw = first.get(scope);
    let layers = shared;
    if (raw !== undefined) {
      const item = validateStoredItem(scope, raw);
      if (item instanceof ConfigValidationError) {
        const entry = failuresByScope.get(scope) ?? { error: item, recipients: [] };
        entry.recipients.push(recipient);
        failuresByScope.set(scope, entry);
        continue;
      }
      layers = [...shared, { origin: scope, item }];
    }
    const merged = mergedRoute([...layers, ...messageLayer], request, options);
    if (merged instanceof ConfigValidationError) {
      const entry = failuresByScope.get(`incomplete:${recipient.domain}`) ?? { error: merged, recipients: [] };
      entry.recipients.push(recipient);
      failuresByScope.set(`incomplete:${recipient.domain}`, entry);
      continue;
    }
    const group = byKey.get(merged.key) ?? { ...merged, recipients: [] };
    group.recipients.push(recipient);
    byKey.set(merged.key, group);
  }

  return {
    routes: [...byKey.values()],
    failures: [...failuresByScope.values()],
    delivery: mergeDelivery(shared),
  };
}

/** A route's merged settings with its pool key and log label: everything of a RouteGroup but its recipients. */
type MergedRoute = Omit<RouteGroup, 'recipients'>;

/** At most this many merges are remembered per sandbox (a few hundred bytes to a few KB each). */
export const MERGED_ROUTES_MAX_ENTRIES = 1_000;

/**
 * Merged routes by what decides them: the identity of each validated layer item (a new stored
 * object after the config cache's TTL is a new item, so a changed item is never served an old
 * merge), the sender's domain (the default EHLO name), the message's auth override and the merge
 * options. Every message of a binding merges the same items, so this saves the merge, the route
 * key and the label per message. Bounded (docs/design.md §3): the sender domain, the recipient
 * domains and the auth override are the message's to choose.
 */
const mergedRoutes = new LruCache<string, MergedRoute | ConfigValidationError>(MERGED_ROUTES_MAX_ENTRIES);

/** A number per validated item object, never reused: a memo key names the item, not its content. */
const itemIds = new WeakMap<object, number>();
let nextItemId = 0;
/**
 * A merge holds parts of its items (keysources, which may be inline `value`s): when an item is
 * collected, the merges that name it go too. Found by scanning the memo (at most
 * MERGED_ROUTES_MAX_ENTRIES keys, once per collected item), so nothing is kept per item.
 */
const itemGone = new FinalizationRegistry<number>((id) => {
  // A key is `hook\nsender\nauth` then one `\n<scope>=<id>` per item; neither the sender domain nor
  // the auth JSON (which ends in `}`) can end a line in `=<digits>`, so this matches item lines only.
  const line = `=${id}`;
  for (const key of [...mergedRoutes.keys()]) if (key.endsWith(line) || key.includes(`${line}\n`)) mergedRoutes.delete(key);
});
function itemId(item: object): number {
  let id = itemIds.get(item);
  if (id === undefined) {
    id = ++nextItemId;
    itemIds.set(item, id);
    itemGone.register(item, id);
  }
  return id;
}

/** How many merges are remembered right now (at most {@link MERGED_ROUTES_MAX_ENTRIES}). */
export function mergedRouteCount(): number {
  return mergedRoutes.size;
}

/**
 * {@link mergeLayers} plus the route key and label, remembered (see mergedRoutes). The result is
 * shared by every message that merges the same layers, so it is frozen.
 */
function mergedRoute(layers: readonly SettingLayer[], request: RoutingRequest, options: MergeOptions): MergedRoute | ConfigValidationError {
  let memoKey = `${options.authHook === true ? 'hook' : '-'}\n${request.senderDomain}\n${request.auth === undefined ? '-' : stableJson(request.auth)}`;
  // The message layer is keyed by its content above; the stored items by their identity.
  for (const layer of layers) if (layer.origin !== 'message') memoKey += `\n${layer.origin}=${itemId(layer.item)}`;
  const known = mergedRoutes.get(memoKey);
  if (known !== undefined) return known;
  const merged = mergeLayers(layers, request.senderDomain, options);
  const result = merged instanceof ConfigValidationError ? merged : freezeRoute({ ...merged, key: routeKey(merged.settings), label: routeLabel(merged.settings) });
  mergedRoutes.set(memoKey, result);
  return result;
}

/** Freeze the objects mergeLayers built (not the stored items they point into: those are never mutated either). */
function freezeRoute(route: MergedRoute): MergedRoute {
  const { settings } = route;
  for (const relay of settings.relays) Object.freeze(relay);
  Object.freeze(settings.relays);
  Object.freeze(settings.auth);
  Object.freeze(settings.limits);
  Object.freeze(settings.delivery);
  if (settings.dkim) Object.freeze(settings.dkim);
  Object.freeze(settings);
  Object.freeze(route.origins);
  return route;
}

/**
 * Merge layers from lowest to highest precedence, field by field, filling defaults.
 * Pure: the CLI's `explain` and the tests call it directly.
 * @returns the settings with each field's origin, or a ConfigValidationError when no relay host is set
 *   or a mechanism lacks what it needs.
 */
export function mergeLayers(
  layers: readonly SettingLayer[],
  senderDomain: string,
  options: MergeOptions = {},
): { settings: EffectiveSettings; origins: Record<string, SettingOrigin> } | ConfigValidationError {
  const origins: Record<string, SettingOrigin> = {};
  const rank: Partial<Record<SettingField, number>> = {};
  const pick = <T>(field: SettingField, read: (item: SettingLayer['item']) => T | undefined, fallback?: T): T | undefined => {
    for (let i = layers.length - 1; i >= 0; i--) {
      const layer = layers[i]!;
      const value = read(layer.item);
      if (value !== undefined) {
        origins[field] = layer.origin;
        rank[field] = i;
        return value;
      }
    }
    if (fallback !== undefined) origins[field] = 'default';
    return fallback;
  };

  const relays = mergeRelays(layers, senderDomain, origins);
  const relay = relays[0]!;
  const host = relay.host === '' ? undefined : relay.host;

  const user = pick('auth.user', (i) => i.auth?.user);
  const pass = pick('auth.pass', (i) => i.auth?.pass);
  const key = pick('auth.key', (i) => i.auth?.key);
  let oauth2 = pick('auth.oauth2', (i) => i.auth?.oauth2);
  // A bearer token (`pass`) set in a higher scope than an OAuth2 client overrides it: the
  // message's own `pass` must win over a binding's client, as precedence says.
  if (oauth2 && pass && (rank['auth.pass'] ?? -1) > (rank['auth.oauth2'] ?? -1)) {
    oauth2 = undefined;
    delete origins['auth.oauth2'];
  }
  // With no explicit type the mechanism follows from what is configured: an OAuth2 client means
  // XOAUTH2, a user or password means PLAIN (the most widely offered), nothing means NONE.
  const inferred: AuthType = oauth2 ? 'XOAUTH2' : user !== undefined || pass !== undefined ? 'PLAIN' : 'NONE';
  const type = pick('auth.type', (i) => i.auth?.type, inferred)!;
  const messageKeysources = pick<readonly string[]>('auth.messageKeysources', (i) => i.auth?.messageKeysources, [])!;
  const hookFunction = pick('auth.hookFunction', (i) => i.auth?.hookFunction);

  const limits: EffectiveLimits = {
    maxConnections: pick('limits.maxConnections', (i) => i.limits?.maxConnections, DEFAULT_MAX_CONNECTIONS)!,
    maxMessagesPerConnection: pick('limits.maxMessagesPerConnection', (i) => i.limits?.maxMessagesPerConnection, DEFAULT_MAX_MESSAGES_PER_CONNECTION)!,
    messagesPerSecond: pick('limits.messagesPerSecond', (i) => i.limits?.messagesPerSecond),
    maxConnectionAgeSeconds: pick('limits.maxConnectionAgeSeconds', (i) => i.limits?.maxConnectionAgeSeconds, DEFAULT_MAX_CONNECTION_AGE_SECONDS)!,
    perUser: pick('limits.perUser', (i) => i.limits?.perUser, false)!,
  };
  const delivery = mergeDelivery(layers, origins);
  const dkim = mergeDkim(layers, origins);

  const auth: EffectiveAuth = { type, user, pass, key, oauth2, messageKeysources, ...(hookFunction !== undefined ? { hookFunction } : {}) };
  const issues: FieldIssue[] = [];
  if (host === undefined) issues.push({ path: 'relay.host', message: 'no relay host is configured in any scope (set it in global, binding or domain scope)' });
  // An auth hook may still supply the user and password: they are checked again after it answers.
  const hookMayAnswer = options.authHook === true || hookFunction !== undefined;
  issues.push(...authIssues(auth, relays, { credentials: !hookMayAnswer }));
  const refused = messageKeysourceProblem(pass, layers, origins, messageKeysources);
  if (refused) issues.push({ path: 'auth.pass', message: refused });
  if (issues.length > 0) return new ConfigValidationError('effective settings', issues);

  return { settings: { relay, relays, auth, limits, delivery, ...(dkim ? { dkim } : {}) }, origins };
}

export interface MergeOptions {
  /** The worker has a module auth hook: missing credentials are not an error until it answered. */
  readonly authHook?: boolean | undefined;
}

/**
 * What a mechanism lacks (a user, a password or token) and AUTH on a relay without TLS that does
 * not allow it. Checked when the scopes are merged and again after the auth hook answered.
 */
export function authIssues(auth: EffectiveAuth, relays: readonly Pick<EffectiveRelay, 'tls' | 'allowInsecureAuth'>[], check: { credentials: boolean } = { credentials: true }): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const { type, user, pass, hookPass, oauth2 } = auth;
  if (type === 'NONE') return issues;
  if (check.credentials) {
    if (type === 'XOAUTH2' && user === undefined) issues.push({ path: 'auth.user', message: 'XOAUTH2 needs the mailbox as auth.user' });
    if (type !== 'XOAUTH2' && user === undefined && !(pass && 'secret' in pass)) {
      issues.push({ path: 'auth.user', message: `${type} needs auth.user (or a secret keysource whose JSON carries "username")` });
    }
    if (pass === undefined && hookPass === undefined && !(type === 'XOAUTH2' && oauth2)) {
      issues.push({ path: 'auth.pass', message: type === 'XOAUTH2' ? 'XOAUTH2 needs auth.pass (a bearer-token keysource) or auth.oauth2' : `${type} needs auth.pass (a keysource)` });
    }
  }
  relays.forEach((r, i) => {
    if (r.tls === 'none' && !r.allowInsecureAuth) {
      issues.push({ path: i === 0 ? 'relay.tls' : `relay[${i}].tls`, message: 'AUTH over a connection without TLS needs "relay": { "allowInsecureAuth": true }' });
    }
  });
  return issues;
}

type RelayFieldName = keyof RelaySettings;
/** Fields a relay list's entries own: lower scopes never fill them (docs/outage.md, failover). */
const LIST_OWNED_FIELDS: ReadonlySet<RelayFieldName> = new Set<RelayFieldName>(['port', 'tls', 'allowInsecureAuth', 'verifyCertificate']);

/**
 * The failover list of a route. The relays come from the highest scope whose `relay` names hosts
 * (a list, or a block with `host`): a list replaces a list whole. Each of its relays then takes
 * its other fields by precedence: a relay block *above* that scope without `host` (a domain item
 * saying only `"tls": "implicit"`) overrides the field for every relay of the list; the list
 * entry's own value comes next; blocks below fill what is still missing (`timeoutSeconds`,
 * `ehloName`), but never how a listed relay is connected to (`port`, `tls`, `allowInsecureAuth`,
 * `verifyCertificate`): those come from the entry, a block above, or the default.
 * Origins are recorded as `relay.<field>` for the first relay and `relay[i].<field>` for the rest.
 */
export function mergeRelays(layers: readonly SettingLayer[], senderDomain: string, origins: Record<string, SettingOrigin>): EffectiveRelay[] {
  let base = -1;
  for (let i = layers.length - 1; i >= 0 && base < 0; i--) {
    const r = layers[i]!.item.relay;
    if (Array.isArray(r) || (r !== undefined && r.host !== undefined)) base = i;
  }
  const baseRelay = base >= 0 ? layers[base]!.item.relay : undefined;
  const entries: readonly RelaySettings[] = Array.isArray(baseRelay) ? baseRelay : [baseRelay ?? {}];
  const blockAt = (i: number): RelaySettings | undefined => {
    const r = layers[i]!.item.relay;
    return r === undefined || Array.isArray(r) ? undefined : r;
  };

  return entries.map((entry, index) => {
    const prefix = index === 0 ? 'relay.' : `relay[${index}].`;
    const field = <K extends RelayFieldName>(name: K, fallback?: RelaySettings[K]): RelaySettings[K] | undefined => {
      const found = (from: number, to: number): RelaySettings[K] | undefined => {
        for (let i = from; i >= to; i--) {
          const value = i === base ? entry[name] : blockAt(i)?.[name];
          if (value !== undefined) {
            origins[prefix + name] = layers[i]!.origin;
            return value;
          }
        }
        return undefined;
      };
      // Above the list's scope, then the entry itself (at the list's scope), then below it — except
      // how a listed relay is connected to (port, TLS, insecure AUTH, certificate checks): a block
      // below a list describes another relay, and its `tls: none` must never reach these.
      const fillFromBelow = base > 0 && !(Array.isArray(baseRelay) && LIST_OWNED_FIELDS.has(name));
      const value = found(layers.length - 1, Math.max(base, 0)) ?? (fillFromBelow ? found(base - 1, 0) : undefined);
      if (value !== undefined) return value;
      if (fallback !== undefined) origins[prefix + name] = 'default';
      return fallback;
    };
    const tls = field('tls', DEFAULT_TLS)!;
    return {
      host: field('host') ?? '',
      port: field('port', DEFAULT_PORTS[tls])!,
      tls,
      allowInsecureAuth: field('allowInsecureAuth', false)!,
      verifyCertificate: field('verifyCertificate', true)!,
      ehloName: field('ehloName', senderDomain)!,
      timeoutSeconds: field('timeoutSeconds', DEFAULT_TIMEOUT_SECONDS)!,
    };
  });
}

/** The message's retry policy from the scopes that may set it (never a domain item: the schema refuses it). */
export function mergeDelivery(layers: readonly SettingLayer[], origins: Record<string, SettingOrigin> = {}): EffectiveDelivery {
  const pick = (name: keyof DeliverySettings, fallback: number): number => {
    for (let i = layers.length - 1; i >= 0; i--) {
      const value = layers[i]!.item.delivery?.[name];
      if (value !== undefined) {
        origins[`delivery.${name}`] = layers[i]!.origin;
        return value;
      }
    }
    origins[`delivery.${name}`] = 'default';
    return fallback;
  };
  const retryIntervalSeconds = pick('retryIntervalSeconds', DEFAULT_RETRY_INTERVAL_SECONDS);
  return {
    maxAgeSeconds: pick('maxAgeSeconds', DEFAULT_MAX_AGE_SECONDS),
    retryIntervalSeconds,
    // A lower scope's cap below a higher scope's first interval would invert the schedule.
    maxRetryIntervalSeconds: Math.max(retryIntervalSeconds, pick('maxRetryIntervalSeconds', DEFAULT_MAX_RETRY_INTERVAL_SECONDS)),
  };
}

/**
 * The message's DKIM signer: the `dkim` block of the highest scope that sets one, whole (never a
 * domain item: the schema refuses it). Each field's origin is that scope, or `default`.
 */
export function mergeDkim(layers: readonly SettingLayer[], origins: Record<string, SettingOrigin> = {}): EffectiveDkim | undefined {
  for (let i = layers.length - 1; i >= 0; i--) {
    const dkim = layers[i]!.item.dkim;
    if (dkim === undefined) continue;
    const origin = layers[i]!.origin;
    origins['dkim.domain'] = origin;
    origins['dkim.selector'] = origin;
    origins['dkim.privateKey'] = origin;
    origins['dkim.algorithm'] = dkim.algorithm === undefined ? 'default' : origin;
    origins['dkim.headers'] = dkim.headers === undefined ? 'default' : origin;
    return {
      domain: dkim.domain.toLowerCase().replace(/\.$/, ''),
      selector: dkim.selector.toLowerCase(),
      privateKey: dkim.privateKey,
      algorithm: dkim.algorithm ?? 'rsa-sha256',
      headers: dkim.headers ?? DEFAULT_DKIM_HEADERS,
    };
  }
  return undefined;
}

/** The relay fields that decide where, and how safely, a password travels. */
const RELAY_DESTINATION_FIELD = /^relay(\[\d+\])?\.(host|port|tls|allowInsecureAuth|verifyCertificate)$/;

/**
 * A message's own `auth.pass` must lie under one of the route's `auth.messageKeysources`
 * (docs/design.md §2). Checked while resolving, so a refused keysource is never read, and per
 * route. The allowance is resolved like any field, but it only covers relays chosen at its own
 * scope or a lower one: a higher scope (a `domain#` item pointing at a partner's relay) that sets
 * a relay's host, port or TLS must allow message keysources itself, so a partner's relay never
 * receives a tenant's secret by accident.
 */
function messageKeysourceProblem(
  pass: Keysource | undefined,
  layers: readonly SettingLayer[],
  origins: Readonly<Record<string, SettingOrigin>>,
  allowed: readonly string[],
): string | undefined {
  if (pass === undefined || origins['auth.pass'] !== 'message') return undefined;
  const name = 'secret' in pass ? `secret:${pass.secret}` : 'parameter' in pass ? `parameter:${pass.parameter}` : 'this keysource';
  if (!(('secret' in pass || 'parameter' in pass) && allowed.some((prefix) => isUnderPrefix(pass, prefix)))) {
    return allowed.length === 0
      ? `the message names ${name}, but this route allows a message no stored secret (set auth.messageKeysources)`
      : `the message names ${name}, outside what this route allows a message (auth.messageKeysources: ${allowed.join(', ')})`;
  }
  // Precedence of a scope: its index in `layers` (a default is below every scope).
  const rankOf = (origin: SettingOrigin | undefined): number => layers.findIndex((layer) => layer.origin === origin);
  const allowedAt = rankOf(origins['auth.messageKeysources']);
  const relayField = Object.entries(origins).find(([field, origin]) => RELAY_DESTINATION_FIELD.test(field) && rankOf(origin) > allowedAt);
  if (relayField) {
    return `the message names ${name}, allowed by auth.messageKeysources in ${origins['auth.messageKeysources']}, but ${relayField[1]} sets ${relayField[0]} of this route and does not allow message keysources itself`;
  }
  return undefined;
}

/** Stable identity of a route: the same settings always give the same key. */
export function routeKey(settings: EffectiveSettings): string {
  return stableJson(settings);
}

/** JSON with object keys sorted, so equal values give equal strings (a HookSecret gives its fingerprint). */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, value: unknown) =>
    value !== null && typeof value === 'object' && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
      : value,
  );
}

export function routeLabel(settings: Pick<EffectiveSettings, 'relay' | 'auth'>): string {
  const { relay, auth } = settings;
  const who = auth.type === 'NONE' ? '' : ` user=${auth.user ?? '(from secret)'}`;
  return `${relay.host}:${relay.port} ${relay.tls} ${auth.type}${who}`;
}

/** The relay as the fleet sees it (suspensions, leases): host and port. */
export function relayId(relay: Pick<EffectiveRelay, 'host' | 'port'>): string {
  return `${relay.host.toLowerCase()}:${relay.port}`;
}

/**
 * The validated layers every message of a binding shares, lowest first: global < the binding's
 * group < the binding (docs/design.md §2). The worker (resolveRoutes) and the CLI (`config explain`
 * without recipients, `dkim dns`) both take them from here. `first` is a read that already holds
 * global and the binding (resolveRoutes reads the recipients' domains in the same request); the
 * group is read only when the binding names one. A binding of '' names no item: global only.
 * @returns the layers, or the first stored item that does not validate
 */
export async function bindingLayers(binding: string, store: ConfigStore, first?: ReadonlyMap<string, unknown>): Promise<SettingLayer[] | ConfigValidationError> {
  const items = first ?? (await store.getItems(binding ? [GLOBAL_SCOPE, bindingScope(binding)] : [GLOBAL_SCOPE]));
  const layers: SettingLayer[] = [];
  const rawGlobal = items.get(GLOBAL_SCOPE);
  const global = rawGlobal === undefined ? undefined : validateStoredItem(GLOBAL_SCOPE, rawGlobal);
  if (global instanceof ConfigValidationError) return global;
  if (global) layers.push({ origin: GLOBAL_SCOPE, item: global });
  if (!binding) return layers;
  const scope = bindingScope(binding);
  const rawBinding = items.get(scope);
  const item = rawBinding === undefined ? undefined : validateStoredItem(scope, rawBinding);
  if (item instanceof ConfigValidationError) return item;
  if (item?.group !== undefined) {
    const groupScope = bindingGroupScope(item.group);
    const rawGroup = (await store.getItems([groupScope])).get(groupScope);
    const group = rawGroup === undefined ? undefined : validateStoredItem(groupScope, rawGroup);
    if (group instanceof ConfigValidationError) return group;
    if (group) layers.push({ origin: groupScope, item: group });
  }
  if (item) layers.push({ origin: scope, item });
  return layers;
}

/**
 * Validated items by the stored object they came from. The config store hands out the same
 * object for a scope until its cache entry expires, so a sandbox validates each stored item once
 * per read instead of once per message (zod parsing was a few percent of the worker's CPU).
 * Stored items are never mutated: a new read is a new object.
 */
const validatedItems = new WeakMap<object, { readonly scope: string; readonly result: ConfigItem | ConfigValidationError }>();

/**
 * A stored item as the worker accepts it: valid (parseConfigItem) and stored under its own scope.
 * The result is remembered per stored object (see validatedItems).
 * @returns the item, or the ConfigValidationError that names the scope, each field path and reason
 */
export function validateStoredItem(scope: string, raw: unknown): ConfigItem | ConfigValidationError {
  if (raw === null || typeof raw !== 'object') return validateOnce(scope, raw);
  const known = validatedItems.get(raw);
  if (known?.scope === scope) return known.result;
  const result = validateOnce(scope, raw);
  validatedItems.set(raw, { scope, result });
  return result;
}

function validateOnce(scope: string, raw: unknown): ConfigItem | ConfigValidationError {
  try {
    const item = parseConfigItem(raw);
    if (item.scope !== scope) {
      return new ConfigValidationError(scope, [{ path: 'scope', message: `item stored under ${scope} says ${item.scope}` }]);
    }
    return item;
  } catch (error) {
    if (error instanceof ConfigValidationError) return error;
    throw error;
  }
}
