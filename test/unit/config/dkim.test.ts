/**
 * The `dkim` config field (docs/design.md §2): global, binding group and binding only; a block is
 * taken whole from the highest scope that sets one; malformed blocks are refused when written,
 * each problem naming its field path; the TXT record is derived from the private key.
 */
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DEFAULT_DKIM_HEADERS, mergeDkim, resolveRoutes } from '../../../lambda/core/config/resolve.js';
import { parseConfigItem } from '../../../lambda/core/config/schema.js';
import { dkimDnsRecord, parseDkimKey } from '../../../lambda/core/dkim/key.js';
import { ConfigValidationError } from '../../../lambda/core/errors.js';
import { MemoryConfigStore } from '../../helpers/memoryPorts.js';

const rsa = (bits = 2048): string => generateKeyPairSync('rsa', { modulusLength: bits }).privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
const signer = { domain: 'acme.example', selector: 'mr2026', privateKey: { secret: 'mailrelay/dkim/acme', field: 'privateKey' } };

function issuesOf(item: unknown): { path: string; message: string }[] {
  try {
    parseConfigItem(item);
  } catch (error) {
    if (error instanceof ConfigValidationError) return [...error.issues];
    throw error;
  }
  return [];
}

describe('dkim in the config schema', () => {
  it('is accepted in global, binding-group and binding items', () => {
    for (const scope of ['global', 'binding-group#bulk', 'binding#acme.example']) {
      expect(parseConfigItem({ scope, dkim: signer }).dkim).toEqual(signer);
    }
  });

  it('a domain item that sets it is an error naming the field', () => {
    expect(issuesOf({ scope: 'domain#partner.example', dkim: signer })).toEqual([{ path: 'dkim', message: expect.stringMatching(/not per recipient domain/) }]);
  });

  it('ed25519-sha256 is refused with the reason: the signer signs rsa-sha256 only', () => {
    expect(issuesOf({ scope: 'global', dkim: { ...signer, algorithm: 'ed25519-sha256' } })).toEqual([
      { path: 'dkim.algorithm', message: expect.stringMatching(/signs rsa-sha256 only/) },
    ]);
    expect(issuesOf({ scope: 'global', dkim: { ...signer, algorithm: 'rsa-sha1' } })).toEqual([{ path: 'dkim.algorithm', message: 'must be rsa-sha256 or ed25519-sha256' }]);
  });

  it('malformed blocks name each field', () => {
    expect(issuesOf({ scope: 'global', dkim: { domain: 'acme.example', selector: 'a b', privateKey: { secret: 'x' }, colour: 1 } }).map((i) => i.path).sort()).toEqual(['dkim.colour', 'dkim.selector']);
    expect(issuesOf({ scope: 'global', dkim: { domain: 'acme.example', selector: 's' } }).map((i) => i.path)).toEqual(['dkim.privateKey']);
    expect(issuesOf({ scope: 'global', dkim: { ...signer, headers: ['Subject', 'To'] } })).toEqual([{ path: 'dkim.headers', message: 'must include From (RFC 6376 §5.4)' }]);
    expect(issuesOf({ scope: 'global', dkim: { ...signer, headers: ['From', 'Bad:Name'] } })).toEqual([{ path: 'dkim.headers[1]', message: 'must be a header field name' }]);
    expect(issuesOf({ scope: 'global', dkim: { ...signer, headers: ['From', 'DKIM-Signature'] } })).toEqual([{ path: 'dkim.headers', message: 'must not list DKIM-Signature' }]);
  });

  it('an inline key is checked when written: not PEM, not RSA, too short', () => {
    const inline = (value: string) => issuesOf({ scope: 'global', dkim: { ...signer, privateKey: { value } } });
    expect(inline('-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----')).toEqual([{ path: 'dkim.privateKey.value', message: expect.stringMatching(/is not a PEM private key/) }]);
    const ed = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    expect(inline(ed)).toEqual([{ path: 'dkim.privateKey.value', message: expect.stringMatching(/ed25519 key; the signer signs rsa-sha256 only/) }]);
    expect(inline(rsa(512))).toEqual([{ path: 'dkim.privateKey.value', message: expect.stringMatching(/512-bit RSA key; DKIM needs at least 1024 bits/) }]);
    expect(inline(rsa())).toEqual([]);
  });
});

describe('dkim resolution', () => {
  it('the highest scope that sets a block wins, whole; defaults fill algorithm and headers', () => {
    const origins: Record<string, string> = {};
    const dkim = mergeDkim(
      [
        { origin: 'global', item: { dkim: { ...signer, headers: ['From'] } } },
        { origin: 'binding-group#bulk', item: { dkim: { domain: 'Bulk.Example.', selector: 'S1', privateKey: { parameter: '/mailrelay/bulk' } } } },
        { origin: 'binding#acme.example', item: {} },
      ],
      origins,
    );
    expect(dkim).toEqual({ domain: 'bulk.example', selector: 's1', privateKey: { parameter: '/mailrelay/bulk' }, algorithm: 'rsa-sha256', headers: DEFAULT_DKIM_HEADERS });
    expect(origins).toEqual({ 'dkim.domain': 'binding-group#bulk', 'dkim.selector': 'binding-group#bulk', 'dkim.privateKey': 'binding-group#bulk', 'dkim.algorithm': 'default', 'dkim.headers': 'default' });
    expect(mergeDkim([{ origin: 'global', item: {} }])).toBeUndefined();
  });

  it('every route of a message gets the binding signer, and the origins say where it came from', async () => {
    const store = new MemoryConfigStore({
      global: { scope: 'global', relay: { host: 'smtp.example' }, dkim: signer },
      'binding#shop': { scope: 'binding#shop', dkim: { ...signer, selector: 'shop' } },
      'domain#partner.example': { scope: 'domain#partner.example', relay: { host: 'smtp.partner.example' } },
    });
    const to = ['a@example.net', 'b@partner.example'].map((address) => ({ name: '', address, domain: address.split('@')[1]! }));
    const { routes, failures } = await resolveRoutes({ binding: 'shop', senderDomain: 'acme.example', recipients: to }, store);
    expect(failures).toEqual([]);
    expect(routes).toHaveLength(2);
    for (const route of routes) {
      expect(route.settings.dkim?.selector).toBe('shop');
      expect(route.origins['dkim.selector']).toBe('binding#shop');
    }
  });

  it('a stored domain item with dkim fails only the recipients of that domain', async () => {
    const store = new MemoryConfigStore({
      global: { scope: 'global', relay: { host: 'smtp.example' } },
      'domain#partner.example': { scope: 'domain#partner.example', dkim: signer },
    });
    const to = ['a@example.net', 'b@partner.example'].map((address) => ({ name: '', address, domain: address.split('@')[1]! }));
    const { routes, failures } = await resolveRoutes({ binding: 'acme.example', senderDomain: 'acme.example', recipients: to }, store);
    expect(routes.map((r) => r.recipients.map((x) => x.address))).toEqual([['a@example.net']]);
    expect(failures[0]?.error.message).toMatch(/domain#partner\.example: dkim: is set per sender/);
  });
});

describe('the DNS record', () => {
  it('is v=DKIM1; k=rsa; p=<the public key>, in strings of at most 255 octets', () => {
    const pem = rsa();
    const record = dkimDnsRecord(parseDkimKey(pem, 'test'), 'acme.example', 'mr2026');
    expect(record.name).toBe('mr2026._domainkey.acme.example');
    expect(record.value).toMatch(/^v=DKIM1; k=rsa; p=[A-Za-z0-9+/]+=*$/);
    const p = record.value.split('p=')[1]!;
    expect(createPublicKey({ key: Buffer.from(p, 'base64'), format: 'der', type: 'spki' }).export({ type: 'spki', format: 'pem' })).toBe(
      createPublicKey(pem).export({ type: 'spki', format: 'pem' }),
    );
    expect(record.strings.join('')).toBe(record.value);
    expect(record.strings.every((s) => s.length <= 255)).toBe(true);
    expect(record.strings.length).toBeGreaterThan(1); // a 2048-bit key does not fit one string
  });
});
