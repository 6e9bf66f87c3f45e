import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  bindingLayers,
  mergedRouteCount,
  mergeLayers,
  MERGED_ROUTES_MAX_ENTRIES,
  resolveRoutes,
  routeKey,
  routeLabel,
  validateStoredItem,
  type SettingLayer,
} from '../../../lambda/core/config/resolve.js';
import { ConfigValidationError } from '../../../lambda/core/errors.js';
import { MemoryConfigStore } from '../../helpers/memoryPorts.js';

// resolveRoutes remembers each merge per (validated layer items, sender domain, message auth,
// options): these tests hold it to giving what a fresh merge gives, never a stale one.

const addr = (address: string) => ({ name: '', address, domain: address.split('@')[1]! });

async function onlyRoute(store: MemoryConfigStore, request: Partial<Parameters<typeof resolveRoutes>[0]> = {}, options = {}) {
  const { routes, failures } = await resolveRoutes(
    { binding: 'acme.example', senderDomain: 'acme.example', recipients: [addr('bob@partner.example')], ...request },
    store,
    options,
  );
  expect(failures).toEqual([]);
  expect(routes).toHaveLength(1);
  return routes[0]!;
}

function tenantStore(): MemoryConfigStore {
  const store = new MemoryConfigStore();
  store.put({ scope: 'global', relay: { host: 'smtp.global.example' }, auth: { type: 'PLAIN', user: 'g', pass: { secret: 'mailrelay/g' }, messageKeysources: ['tenants/'] } });
  store.put({ scope: 'binding#acme.example', limits: { maxConnections: 2 } });
  store.put({ scope: 'domain#partner.example', relay: { port: 2525 }, auth: { messageKeysources: ['tenants/'] } });
  return store;
}

describe('resolveRoutes remembers merges', () => {
  it('gives what a fresh merge gives, key and label included, and the same frozen settings to the next message', async () => {
    // Prepare
    const store = tenantStore();
    const shared = await bindingLayers('acme.example', store);
    if (shared instanceof ConfigValidationError) throw shared;
    const domain = validateStoredItem('domain#partner.example', (await store.getItems(['domain#partner.example'])).get('domain#partner.example'));
    if (domain instanceof ConfigValidationError) throw domain;
    const fresh = mergeLayers([...shared, { origin: 'domain#partner.example', item: domain }], 'acme.example');
    if (fresh instanceof ConfigValidationError) throw fresh;

    // Act
    const first = await onlyRoute(store);
    const second = await onlyRoute(store, { recipients: [addr('carol@partner.example')] });

    // Assess
    expect(first.settings).toEqual(fresh.settings);
    expect(first.origins).toEqual(fresh.origins);
    expect(first.key).toBe(routeKey(fresh.settings));
    expect(first.label).toBe(routeLabel(fresh.settings));
    expect(second.settings).toBe(first.settings);
    expect(second.recipients.map((r) => r.address)).toEqual(['carol@partner.example']);
    expect(first.recipients.map((r) => r.address)).toEqual(['bob@partner.example']);
    expect(Object.isFrozen(first.settings) && Object.isFrozen(first.settings.relay) && Object.isFrozen(first.settings.auth) && Object.isFrozen(first.origins)).toBe(true);
  });

  it('never serves an old merge once the store hands out a new object for a scope (a changed item after the config TTL)', async () => {
    // Prepare
    const store = tenantStore();
    const before = await onlyRoute(store);

    // Act: each scope in turn is re-read as a new object with a changed value.
    store.put({ scope: 'domain#partner.example', relay: { port: 2526 } });
    const domainChanged = await onlyRoute(store);
    store.put({ scope: 'binding#acme.example', limits: { maxConnections: 3 } });
    const bindingChanged = await onlyRoute(store);
    store.put({ scope: 'global', relay: { host: 'smtp.new.example' }, auth: { type: 'NONE' } });
    const globalChanged = await onlyRoute(store);

    // Assess
    expect(before.settings.relay.port).toBe(2525);
    expect(domainChanged.settings.relay.port).toBe(2526);
    expect(domainChanged.key).not.toBe(before.key);
    expect(bindingChanged.settings.limits.maxConnections).toBe(3);
    expect(globalChanged.settings.relay.host).toBe('smtp.new.example');
    expect(globalChanged.label).toBe('smtp.new.example:2526 starttls NONE');
  });

  it('keeps apart what the message decides: its auth override, its sender domain, and a recipient domain without an item', async () => {
    // Prepare
    const store = tenantStore();

    // Act
    const plain = await onlyRoute(store);
    const asAlice = await onlyRoute(store, { auth: { user: 'alice', pass: { secret: 'tenants/alice' } } });
    const asBob = await onlyRoute(store, { auth: { user: 'bob', pass: { secret: 'tenants/bob' } } });
    const outside = await resolveRoutes({ binding: 'acme.example', senderDomain: 'acme.example', recipients: [addr('x@partner.example')], auth: { pass: { secret: 'other/x' } } }, store);
    const otherSender = await onlyRoute(store, { senderDomain: 'news.acme.example' });
    const noItem = await onlyRoute(store, { recipients: [addr('dan@elsewhere.example')] });

    // Assess
    expect(plain.settings.auth).toMatchObject({ user: 'g', pass: { secret: 'mailrelay/g' } });
    expect(asAlice.settings.auth).toMatchObject({ user: 'alice', pass: { secret: 'tenants/alice' } });
    expect(asAlice.origins['auth.user']).toBe('message');
    expect(asBob.settings.auth).toMatchObject({ user: 'bob', pass: { secret: 'tenants/bob' } });
    expect(outside.routes).toEqual([]);
    expect(outside.failures[0]!.error.message).toContain('secret:other/x');
    expect(otherSender.settings.relay.ehloName).toBe('news.acme.example');
    expect(plain.settings.relay.ehloName).toBe('acme.example');
    expect(noItem.settings.relay.port).toBe(587);
  });

  it('keeps apart the merge options: a module auth hook may still supply missing credentials', async () => {
    // Prepare: PLAIN with no user or password anywhere.
    const store = new MemoryConfigStore();
    store.put({ scope: 'global', relay: { host: 'smtp.example' }, auth: { type: 'PLAIN' } });
    const request = { binding: 'acme.example', senderDomain: 'acme.example', recipients: [addr('bob@partner.example')] };

    // Act
    const withoutHook = await resolveRoutes(request, store);
    const withHook = await resolveRoutes(request, store, { authHook: true });
    const withoutAgain = await resolveRoutes(request, store);

    // Assess
    expect(withoutHook.routes).toEqual([]);
    expect(withoutHook.failures[0]!.error.message).toContain('auth.user');
    expect(withHook.failures).toEqual([]);
    expect(withHook.routes).toHaveLength(1);
    expect(withoutAgain.routes).toEqual([]);
  });

  it('stays bounded whatever messages say: thousands of distinct auth values and sender domains', async () => {
    // Prepare
    const store = tenantStore();
    const distinct = MERGED_ROUTES_MAX_ENTRIES + 200;

    // Act
    for (let i = 0; i < distinct; i++) {
      await resolveRoutes({ binding: 'acme.example', senderDomain: `s${i}.acme.example`, recipients: [addr('bob@partner.example')], auth: { key: `k${i}` } }, store);
    }
    const last = await onlyRoute(store, { senderDomain: `s${distinct - 1}.acme.example`, auth: { key: `k${distinct - 1}` } });

    // Assess
    expect(mergedRouteCount()).toBeLessThanOrEqual(MERGED_ROUTES_MAX_ENTRIES);
    expect(mergedRouteCount()).toBeGreaterThan(MERGED_ROUTES_MAX_ENTRIES / 2);
    expect(last.settings.auth.key).toBe(`k${distinct - 1}`);
  });

  it('leaves mergeLayers itself unremembered (the CLI merges hand-made layers)', () => {
    const item = { relay: { host: 'smtp.example' } } as SettingLayer['item'];
    const first = mergeLayers([{ origin: 'global', item }], 'a.example');
    const second = mergeLayers([{ origin: 'global', item }], 'a.example');
    if (first instanceof ConfigValidationError || second instanceof ConfigValidationError) throw new Error('expected settings');
    expect(second.settings).not.toBe(first.settings);
    expect(second.settings).toEqual(first.settings);
  });
});

describe('remembered merges do not outlive their items', () => {
  it('a rotated inline secret: once the config cache lets the old item go, its merge and keysource are collectable with no further message', () => {
    const script = fileURLToPath(new URL('./fixtures/routeMemoRetention.ts', import.meta.url));
    const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', script], { encoding: 'utf8', timeout: 30_000 });
    expect(JSON.parse(out.trim())).toEqual({ reused: true, rotatedPass: { value: 'rotated-secret' }, oldPassCollected: true });
  });
});
