import { describe, expect, it } from 'vitest';
import { bindingLayers, mergeLayers, resolveRoutes, routeKey, validateStoredItem } from '../../../lambda/core/config/resolve.js';
import { ConfigValidationError } from '../../../lambda/core/errors.js';
import { MemoryConfigStore } from '../../helpers/memoryPorts.js';

const addr = (address: string) => ({ name: '', address, domain: address.split('@')[1]! });

describe('resolveRoutes', () => {
  it('resolves each field on its own, lowest to highest precedence, and names each origin', async () => {
    // Prepare
    const store = new MemoryConfigStore();
    store.put({ scope: 'global', relay: { host: 'smtp.global.example', timeoutSeconds: 20 }, auth: { type: 'PLAIN', user: 'g', pass: { secret: 'mailrelay/g' } } });
    store.put({ scope: 'binding-group#tenants', relay: { port: 2525 } });
    store.put({ scope: 'binding#acme', group: 'tenants', auth: { user: 'acme-user' } });
    store.put({ scope: 'domain#partner.example', auth: { type: 'LOGIN', key: 'k1' } });

    // Act
    const { routes, failures } = await resolveRoutes(
      { binding: 'acme', senderDomain: 'acme.example', recipients: [addr('a@partner.example')], auth: { key: 'from-message' } },
      store,
    );

    // Assess
    expect(failures).toEqual([]);
    expect(routes).toHaveLength(1);
    const [route] = routes;
    const relay = { host: 'smtp.global.example', port: 2525, tls: 'starttls', allowInsecureAuth: false, verifyCertificate: true, ehloName: 'acme.example', timeoutSeconds: 20 };
    expect(route!.settings).toEqual({
      relay,
      relays: [relay],
      auth: { type: 'LOGIN', user: 'acme-user', pass: { secret: 'mailrelay/g' }, key: 'from-message', oauth2: undefined, messageKeysources: [] },
      limits: { maxConnections: 4, maxMessagesPerConnection: 100, messagesPerSecond: undefined, maxConnectionAgeSeconds: 300, perUser: false },
      delivery: { maxAgeSeconds: 259_200, retryIntervalSeconds: 60, maxRetryIntervalSeconds: 3600 },
    });
    expect(route!.origins).toMatchObject({
      'relay.host': 'global',
      'relay.port': 'binding-group#tenants',
      'relay.tls': 'default',
      'relay.ehloName': 'default',
      'relay.timeoutSeconds': 'global',
      'auth.type': 'domain#partner.example',
      'auth.user': 'binding#acme',
      'auth.pass': 'global',
      'auth.key': 'message',
    });
    expect(store.reads).toEqual([['global', 'binding#acme', 'domain#partner.example'], ['binding-group#tenants']]);
  });

  it('groups recipients by effective settings: two domains with different relays are two routes', async () => {
    const store = new MemoryConfigStore({
      global: { scope: 'global', relay: { host: 'smtp.default.example' } },
      'domain#b.example': { scope: 'domain#b.example', relay: { host: 'smtp.b.example', port: 465, tls: 'implicit' } },
    });
    const { routes } = await resolveRoutes(
      { binding: 'x.example', senderDomain: 'x.example', recipients: [addr('1@a.example'), addr('2@b.example'), addr('3@c.example')] },
      store,
    );
    expect(routes.map((r) => [r.settings.relay.host, r.recipients.map((x) => x.address)])).toEqual([
      ['smtp.default.example', ['1@a.example', '3@c.example']],
      ['smtp.b.example', ['2@b.example']],
    ]);
  });

  it('a broken domain item fails only the recipients of that domain, with the field path', async () => {
    const store = new MemoryConfigStore({
      global: { scope: 'global', relay: { host: 'smtp.default.example' } },
      'domain#bad.example': { scope: 'domain#bad.example', relay: { prot: 25 } },
    });
    const { routes, failures } = await resolveRoutes(
      { binding: 'x.example', senderDomain: 'x.example', recipients: [addr('1@ok.example'), addr('2@bad.example')] },
      store,
    );
    expect(routes.map((r) => r.recipients.map((x) => x.address))).toEqual([['1@ok.example']]);
    expect(failures).toHaveLength(1);
    expect(failures[0]!.recipients.map((x) => x.address)).toEqual(['2@bad.example']);
    expect(failures[0]!.error.message).toContain('relay.prot: unknown field');
  });

  it('a broken global item fails every recipient', async () => {
    const store = new MemoryConfigStore({ global: { scope: 'global', relay: { host: 'h.example', tls: 'sometimes' } } });
    const { routes, failures } = await resolveRoutes({ binding: 'x.example', senderDomain: 'x.example', recipients: [addr('1@a.example')] }, store);
    expect(routes).toEqual([]);
    expect(failures[0]!.error.message).toContain('relay.tls: must be starttls, implicit or none');
  });

  it('no relay host anywhere is a configuration error naming relay.host', async () => {
    const { failures } = await resolveRoutes({ binding: 'x.example', senderDomain: 'x.example', recipients: [addr('1@a.example')] }, new MemoryConfigStore());
    expect(failures[0]!.error).toBeInstanceOf(ConfigValidationError);
    expect(failures[0]!.error.message).toContain('relay.host');
  });
});

describe('mergeLayers', () => {
  it('infers the mechanism from what is configured and derives the port from the TLS mode', () => {
    const merged = mergeLayers([{ origin: 'global', item: { relay: { host: 'h.example', tls: 'implicit' }, auth: { user: 'u', pass: { secret: 's' } } } }], 'acme.example');
    if (merged instanceof ConfigValidationError) throw merged;
    expect(merged.settings.auth.type).toBe('PLAIN');
    expect(merged.origins['auth.type']).toBe('default');
    expect(merged.settings.relay.port).toBe(465);
  });

  it('refuses AUTH without TLS unless allowInsecureAuth is set', () => {
    const layer = { origin: 'global', item: { relay: { host: 'h.example', tls: 'none' as const }, auth: { type: 'PLAIN' as const, user: 'u', pass: { secret: 's' } } } };
    const refused = mergeLayers([layer], 'a.example');
    expect(refused).toBeInstanceOf(ConfigValidationError);
    expect((refused as ConfigValidationError).message).toContain('allowInsecureAuth');
    const allowed = mergeLayers([layer, { origin: 'domain#d.example', item: { relay: { allowInsecureAuth: true } } }], 'a.example');
    expect(allowed).not.toBeInstanceOf(ConfigValidationError);
  });

  it('gives identical settings identical route keys regardless of key order', () => {
    const a = mergeLayers([{ origin: 'global', item: { relay: { host: 'h.example', port: 25 } } }], 'a.example');
    const b = mergeLayers([{ origin: 'binding#x', item: { relay: { port: 25, host: 'h.example' } } }], 'a.example');
    if (a instanceof ConfigValidationError || b instanceof ConfigValidationError) throw new Error('unexpected');
    expect(routeKey(a.settings)).toBe(routeKey(b.settings));
  });
});

describe('precedence between a bearer token and an OAuth2 client', () => {
  it('a message’s own bearer-token pass overrides a binding’s OAuth2 client', () => {
    const merged = mergeLayers(
      [
        {
          origin: 'binding#acme.example',
          item: {
            relay: { host: 'smtp.office365.com' },
            auth: {
              type: 'XOAUTH2',
              user: 'box@acme.example',
              oauth2: { tenantId: 'acme', clientId: 'c', clientSecret: { secret: 'mailrelay/c' }, scope: 's' },
              messageKeysources: ['mailrelay/acme/'],
            },
          },
        },
        { origin: 'message', item: { auth: { pass: { secret: 'mailrelay/acme/token' } } } },
      ],
      'acme.example',
    );
    if (merged instanceof ConfigValidationError) throw merged;
    expect(merged.settings.auth.oauth2).toBeUndefined();
    expect(merged.settings.auth.pass).toEqual({ secret: 'mailrelay/acme/token' });
    expect(merged.origins['auth.oauth2']).toBeUndefined();
  });

  it('an OAuth2 client in a higher scope still wins over a lower scope’s pass', () => {
    const merged = mergeLayers(
      [
        { origin: 'global', item: { relay: { host: 'h.example' }, auth: { user: 'u', pass: { secret: 'mailrelay/g' } } } },
        { origin: 'domain#d.example', item: { auth: { type: 'XOAUTH2', oauth2: { tokenUrl: 'https://t.example/token', clientId: 'c', scope: 's' } } } },
      ],
      'a.example',
    );
    if (merged instanceof ConfigValidationError) throw merged;
    expect(merged.settings.auth.oauth2?.clientId).toBe('c');
  });
});

describe('bindingLayers (shared by the worker and the CLI)', () => {
  it('stacks global < the binding\'s group < the binding; no binding means global only', async () => {
    // Prepare
    const store = new MemoryConfigStore();
    store.put({ scope: 'global', relay: { host: 'smtp.global.example' } });
    store.put({ scope: 'binding-group#tenants', relay: { port: 2525 } });
    store.put({ scope: 'binding#acme', group: 'tenants', auth: { type: 'NONE' } });

    // Act
    const layers = await bindingLayers('acme', store);
    const none = await bindingLayers('', store);

    // Assess
    expect(layers).not.toBeInstanceOf(ConfigValidationError);
    expect((layers as { origin: string }[]).map((l) => l.origin)).toEqual(['global', 'binding-group#tenants', 'binding#acme']);
    expect((none as { origin: string }[]).map((l) => l.origin)).toEqual(['global']);
  });

  it('returns the error of an invalid group, and of an item stored under another scope', async () => {
    // Prepare
    const store = new MemoryConfigStore();
    store.put({ scope: 'binding#acme', group: 'tenants' });
    store.put({ scope: 'binding-group#tenants', relay: { port: 'x' } });

    // Act
    const invalid = await bindingLayers('acme', store);
    const misplaced = validateStoredItem('binding#other', { scope: 'binding#acme' });

    // Assess
    expect(invalid).toBeInstanceOf(ConfigValidationError);
    expect((invalid as ConfigValidationError).message).toContain('binding-group#tenants');
    expect(misplaced).toBeInstanceOf(ConfigValidationError);
    expect((misplaced as ConfigValidationError).issues).toEqual([{ path: 'scope', message: 'item stored under binding#other says binding#acme' }]);
  });
});

describe('validateStoredItem, once per stored object', () => {
  it('validates a stored object once: the same object gives the same item until the store hands out a new one', () => {
    // Prepare: what the config store's cache hands out for one scope, message after message.
    const stored = { scope: 'global', relay: { host: 'smtp.example', port: 587 } };
    const reread = { scope: 'global', relay: { host: 'smtp.changed.example', port: 587 } };

    // Act
    const first = validateStoredItem('global', stored);
    const second = validateStoredItem('global', stored);
    const afterRead = validateStoredItem('global', reread);

    // Assess
    expect(first).not.toBeInstanceOf(ConfigValidationError);
    expect(second).toBe(first);
    expect(afterRead).not.toBe(first);
    expect(afterRead).toMatchObject({ relay: { host: 'smtp.changed.example' } });
  });

  it('remembers the scope it checked: the same object under another scope is still refused', () => {
    const stored = { scope: 'binding#acme', relay: { port: 2525 } };

    expect(validateStoredItem('binding#acme', stored)).not.toBeInstanceOf(ConfigValidationError);
    expect(validateStoredItem('binding#other', stored)).toBeInstanceOf(ConfigValidationError);
    // An invalid object stays invalid, with its reasons.
    const broken = { scope: 'global', relay: { port: 'not a port' } };
    expect(validateStoredItem('global', broken)).toBeInstanceOf(ConfigValidationError);
    expect(validateStoredItem('global', broken)).toBeInstanceOf(ConfigValidationError);
  });
});
