import { describe, expect, it } from 'vitest';
import { parseConfigItem } from '../../../lambda/core/config/schema.js';
import { ConfigValidationError } from '../../../lambda/core/errors.js';

const issuesOf = (input: unknown): string[] => {
  try {
    parseConfigItem(input);
  } catch (error) {
    if (error instanceof ConfigValidationError) return error.issues.map((i) => `${i.path}: ${i.message}`);
    throw error;
  }
  return [];
};

describe('parseConfigItem', () => {
  it('accepts the docs/design.md §2 example and lower-cases the scope', () => {
    const item = parseConfigItem({
      scope: 'Domain#Partner.Example',
      relay: { host: 'smtp.partner.example', port: 587, tls: 'starttls' },
      auth: { type: 'LOGIN', user: 'msys', pass: { secret: 'mailrelay/partner', field: 'password' }, key: 'partner-login' },
      limits: { maxConnections: 4, maxMessagesPerConnection: 100 },
    });
    expect(item.scope).toBe('domain#partner.example');
    expect(item.auth?.pass).toEqual({ secret: 'mailrelay/partner', field: 'password' });
  });

  it.each([
    [{ scope: 'global', relay: { prot: 25 } }, 'relay.prot: unknown field'],
    [{ scope: 'global', relay: { port: 0 } }, 'relay.port: must be 1-65535'],
    [{ scope: 'global', relay: { tls: 'yes' } }, 'relay.tls: must be starttls, implicit or none'],
    [{ scope: 'global', relay: { ehloName: 'localhost' } }, 'relay.ehloName: must not be localhost (relays reject or score it)'],
    [{ scope: 'global', auth: { type: 'CRAM-MD5' } }, 'auth.type: must be PLAIN, LOGIN, XOAUTH2 or NONE'],
    [{ scope: 'global', auth: { pass: 'hunter2' } }, 'auth.pass: must be one of'],
    [{ scope: 'global', auth: { user: 'a\r\nb' } }, 'auth.user: must not contain CR'],
    [{ scope: 'global', group: 'g' }, 'group: only a binding#<name> item may name a group'],
    [{ scope: 'tenant#x' }, 'scope: must be global, binding-group#<name>'],
    [{ scope: 'global', auth: { oauth2: { clientId: 'c', scope: 's' } } }, 'auth.oauth2.tokenUrl: give exactly one of tokenUrl or tenantId'],
    [{ scope: 'global', limits: { maxConnections: 1.5 } }, 'limits.maxConnections: must be an integer'],
  ])('rejects %j with the field path', (input, expected) => {
    expect(issuesOf(input).join('\n')).toContain(expected);
  });

  it('treats null as absent', () => {
    expect(parseConfigItem({ scope: 'global', relay: { host: 'h.example', port: null }, auth: null })).toEqual({ scope: 'global', relay: { host: 'h.example' } });
  });

  it('a "__proto__" key is an unknown field, never a prototype', () => {
    const input = JSON.parse('{"scope":"global","__proto__":{"relay":{"host":"evil.example"}}}');
    expect(issuesOf(input)).toEqual(['__proto__: unknown field']);
  });
});
