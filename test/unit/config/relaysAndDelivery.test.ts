/**
 * Relay failover lists and the delivery policy (docs/design.md §2): a list replaces a list whole,
 * relay blocks above the list override each relay's fields, blocks below fill them; `delivery`
 * resolves from global, group and binding only.
 */
import { describe, expect, it } from 'vitest';
import { mergeDelivery, mergeLayers, resolveRoutes } from '../../../lambda/core/config/resolve.js';
import { parseConfigItem } from '../../../lambda/core/config/schema.js';
import { ConfigValidationError } from '../../../lambda/core/errors.js';
import { MemoryConfigStore } from '../../helpers/memoryPorts.js';

const addr = (address: string) => ({ name: '', address, domain: address.split('@')[1]! });

describe('relay lists', () => {
  it('a list in a higher scope replaces a lower list whole; lower blocks fill fields, higher blocks override them', () => {
    const merged = mergeLayers(
      [
        { origin: 'global', item: { relay: { host: 'g.example', timeoutSeconds: 7 } } },
        { origin: 'binding#acme', item: { relay: [{ host: 'a.example', port: 2525 }, { host: 'b.example', tls: 'implicit' }] } },
        { origin: 'domain#d.example', item: { relay: { verifyCertificate: false } } },
      ],
      'acme.example',
    );
    if (merged instanceof ConfigValidationError) throw merged;
    expect(merged.settings.relays.map((r) => [r.host, r.port, r.tls, r.timeoutSeconds, r.verifyCertificate])).toEqual([
      ['a.example', 2525, 'starttls', 7, false],
      ['b.example', 465, 'implicit', 7, false],
    ]);
    expect(merged.settings.relay).toEqual(merged.settings.relays[0]);
    expect(merged.origins).toMatchObject({
      'relay.host': 'binding#acme',
      'relay.port': 'binding#acme',
      'relay.timeoutSeconds': 'global',
      'relay.verifyCertificate': 'domain#d.example',
      'relay[1].host': 'binding#acme',
      'relay[1].port': 'default',
      'relay[1].tls': 'binding#acme',
    });
  });

  it('a lower block’s connection settings never reach a list’s relays (a stand-in’s tls none stays with it)', () => {
    const merged = mergeLayers(
      [
        { origin: 'global', item: { relay: { host: 'local-g.example', port: 2525, tls: 'none', allowInsecureAuth: true, verifyCertificate: false, timeoutSeconds: 9 } } },
        { origin: 'binding#acme', item: { relay: [{ host: 'a.example' }, { host: 'b.example', tls: 'implicit' }] } },
      ],
      'acme.example',
    );
    if (merged instanceof ConfigValidationError) throw merged;
    expect(merged.settings.relays.map((r) => [r.host, r.port, r.tls, r.allowInsecureAuth, r.verifyCertificate, r.timeoutSeconds])).toEqual([
      ['a.example', 587, 'starttls', false, true, 9],
      ['b.example', 465, 'implicit', false, true, 9],
    ]);
  });

  it('a block with a host in a higher scope replaces a lower list with that one relay', () => {
    const merged = mergeLayers(
      [
        { origin: 'global', item: { relay: [{ host: 'a.example' }, { host: 'b.example' }] } },
        { origin: 'domain#d.example', item: { relay: { host: 'partner.example' } } },
      ],
      'acme.example',
    );
    if (merged instanceof ConfigValidationError) throw merged;
    expect(merged.settings.relays.map((r) => r.host)).toEqual(['partner.example']);
  });

  it('each relay of the list needs TLS for AUTH unless it allows insecure auth, named by its index', () => {
    const merged = mergeLayers(
      [{ origin: 'global', item: { relay: [{ host: 'a.example' }, { host: 'b.example', tls: 'none' }], auth: { user: 'u', pass: { value: 'p' } } } }],
      'acme.example',
    );
    expect(merged).toBeInstanceOf(ConfigValidationError);
    expect((merged as ConfigValidationError).message).toContain('relay[1].tls');
  });

  it('schema: errors inside a list name the relay index; an empty list and a sixth relay are refused', () => {
    const issues = (input: unknown) => {
      try {
        parseConfigItem(input);
        return '';
      } catch (error) {
        return (error as Error).message;
      }
    };
    expect(issues({ scope: 'global', relay: [{ host: 'a.example' }, { host: 'b.example', port: 0 }] })).toContain('relay[1].port');
    expect(issues({ scope: 'global', relay: [{ host: 'a.example', prot: 1 }] })).toContain('relay[0].prot: unknown field');
    expect(issues({ scope: 'global', relay: [] })).toContain('relay: must list at least one relay');
    expect(issues({ scope: 'global', relay: Array.from({ length: 6 }, (_, i) => ({ host: `r${i}.example` })) })).toContain('at most 5');
    expect(issues({ scope: 'global', relay: 'smtp.example' })).toContain('relay');
  });
});

describe('delivery', () => {
  it('resolves from global, group and binding, field by field, with the defaults', async () => {
    const store = new MemoryConfigStore({
      global: { scope: 'global', relay: { host: 'h.example' }, delivery: { maxAgeSeconds: 86_400 } },
      'binding#acme': { scope: 'binding#acme', delivery: { retryIntervalSeconds: 30 } },
    });
    const { delivery } = await resolveRoutes({ binding: 'acme', senderDomain: 'acme.example', recipients: [addr('a@x.example')] }, store);
    expect(delivery).toEqual({ maxAgeSeconds: 86_400, retryIntervalSeconds: 30, maxRetryIntervalSeconds: 3600 });
    const origins: Record<string, string> = {};
    mergeDelivery([{ origin: 'global', item: { delivery: { maxAgeSeconds: 600 } } }], origins);
    expect(origins).toEqual({ 'delivery.maxAgeSeconds': 'global', 'delivery.retryIntervalSeconds': 'default', 'delivery.maxRetryIntervalSeconds': 'default' });
  });

  it('a domain item setting delivery is an error naming the field', () => {
    expect(() => parseConfigItem({ scope: 'domain#x.example', delivery: { maxAgeSeconds: 600 } })).toThrow(/delivery: is set per message/);
  });

  it('bounds: max interval at most 43200 (SQS visibility), not below the first interval; age at most 14 days', () => {
    expect(() => parseConfigItem({ scope: 'global', delivery: { maxRetryIntervalSeconds: 43_201 } })).toThrow(/delivery.maxRetryIntervalSeconds: must be at most 43200/);
    expect(() => parseConfigItem({ scope: 'global', delivery: { retryIntervalSeconds: 600, maxRetryIntervalSeconds: 60 } })).toThrow(/delivery.maxRetryIntervalSeconds: must be at least retryIntervalSeconds/);
    expect(() => parseConfigItem({ scope: 'global', delivery: { maxAgeSeconds: 15 * 86_400 } })).toThrow(/delivery.maxAgeSeconds: must be at most 1209600/);
    expect(() => parseConfigItem({ scope: 'global', delivery: { maxAgeSeconds: 3600, retryIntervalSeconds: 60, maxRetryIntervalSeconds: 43_200 } })).not.toThrow();
  });
});
