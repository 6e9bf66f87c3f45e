/**
 * Issue 14's config findings, each reproduced against the schema and the resolver: env keysources
 * that read any variable, http token URLs, producers and auth.messageKeysources per route.
 */
import { describe, expect, it } from 'vitest';
import { mergeLayers, resolveRoutes } from '../../../lambda/core/config/resolve.js';
import { parseConfigItem } from '../../../lambda/core/config/schema.js';
import { ConfigValidationError } from '../../../lambda/core/errors.js';
import { MemoryConfigStore } from '../../helpers/memoryPorts.js';

const addr = (address: string) => ({ name: '', address, domain: address.split('@')[1]! });

function issuesOf(item: unknown): string[] {
  try {
    parseConfigItem(item);
  } catch (error) {
    if (error instanceof ConfigValidationError) return error.issues.map((i) => `${i.path}: ${i.message}`);
    throw error;
  }
  return [];
}

describe('env keysources read only MAILRELAY_* variables', () => {
  it('an env keysource in config could read any variable, AWS_SECRET_ACCESS_KEY included: now an error naming the field', () => {
    // Act
    const issues = issuesOf({ scope: 'global', auth: { user: 'u', pass: { env: 'AWS_SECRET_ACCESS_KEY' } } });
    const nested = issuesOf({ scope: 'global', auth: { oauth2: { tenantId: 't', clientId: 'c', scope: 's', clientSecret: { env: 'HOME' } } } });

    // Assess
    expect(issues).toEqual(['auth.pass.env: must name a variable starting with MAILRELAY_ (got AWS_SECRET_ACCESS_KEY)']);
    expect(nested).toEqual(['auth.oauth2.clientSecret.env: must name a variable starting with MAILRELAY_ (got HOME)']);
    expect(issuesOf({ scope: 'global', auth: { user: 'u', pass: { env: 'MAILRELAY_RELAY_PASSWORD' } } })).toEqual([]);
  });
});

describe('OAuth2 tokenUrl must be https', () => {
  it.each([
    ['http://idp.example/token', undefined],
    ['http://169.254.169.254/latest/meta-data/iam', undefined],
    ['http://10.1.2.3/token', true],
    ['http://127.0.0.1:8080/token', undefined],
  ])('an http tokenUrl (%s, allowLoopbackHttp %s) makes the item invalid, naming auth.oauth2.tokenUrl', (tokenUrl, allowLoopbackHttp) => {
    // Act
    const issues = issuesOf({ scope: 'global', auth: { oauth2: { tokenUrl, ...(allowLoopbackHttp ? { allowLoopbackHttp } : {}), clientId: 'c', scope: 's' } } });

    // Assess
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatch(/^auth\.oauth2\.tokenUrl: must be https/);
  });

  it('https anywhere, and http to loopback with the explicit opt-in, are valid', () => {
    expect(issuesOf({ scope: 'global', auth: { oauth2: { tokenUrl: 'https://10.1.2.3/token', clientId: 'c', scope: 's' } } })).toEqual([]);
    expect(issuesOf({ scope: 'global', auth: { oauth2: { tokenUrl: 'http://127.0.0.1:8080/token', allowLoopbackHttp: true, clientId: 'c', scope: 's' } } })).toEqual([]);
  });
});

describe('producers on binding items', () => {
  it('a binding item may list principal ids or *; other items and malformed ids are errors naming producers', () => {
    expect(issuesOf({ scope: 'binding#acme', producers: ['AROAEXAMPLEROLEID0001', 'AROAEXAMPLEROLEID0002:session-1', '*'] })).toEqual([]);
    expect(issuesOf({ scope: 'domain#x.example', producers: ['*'] })).toEqual(['producers: only a binding#<name> item may list producers']);
    expect(issuesOf({ scope: 'binding#acme', producers: ['arn:aws:iam::123456789012:role/x'] })[0]).toMatch(/^producers\[0\]: must be "\*" or an IAM principal id/);
    expect(issuesOf({ scope: 'binding#acme', producers: [] })[0]).toMatch(/^producers: must list at least one/);
  });
});

describe('auth.messageKeysources', () => {
  const global = { scope: 'global', relay: { host: 'smtp.tenant.example' }, auth: { user: 'u', pass: { secret: 'mailrelay/shared' }, messageKeysources: ['mailrelay/acme/'] } };
  const partner = { scope: 'domain#partner.example', relay: { host: 'smtp.partner.example', tls: 'none', allowInsecureAuth: true } };

  it('a message auth.pass could name any secret under the prefix: outside auth.messageKeysources it is refused naming auth.pass', async () => {
    // Prepare
    const store = new MemoryConfigStore({ global: { ...global, auth: { user: 'u', pass: { secret: 'mailrelay/shared' } } } });

    // Act: no route allows message keysources (the default)
    const { routes, failures } = await resolveRoutes(
      { binding: 'acme', senderDomain: 'acme.example', recipients: [addr('bob@example.net')], auth: { pass: { secret: 'mailrelay/other-tenant' } } },
      store,
    );

    // Assess
    expect(routes).toEqual([]);
    expect(failures[0]!.error.issues).toEqual([
      { path: 'auth.pass', message: 'the message names secret:mailrelay/other-tenant, but this route allows a message no stored secret (set auth.messageKeysources)' },
    ]);
  });

  it('another tenant’s password reached a partner relay in clear: messageKeysources apply per route, so the domain route refuses it', async () => {
    // Prepare: global allows mailrelay/acme/, the partner's domain item does not (its own scope sets none)
    const store = new MemoryConfigStore({ global, 'domain#partner.example': { ...partner, auth: { messageKeysources: ['mailrelay/partner/'] } } });

    // Act
    const { routes, failures } = await resolveRoutes(
      {
        binding: 'acme',
        senderDomain: 'acme.example',
        recipients: [addr('bob@example.net'), addr('alice@partner.example')],
        auth: { pass: { secret: 'mailrelay/acme/m365' } },
      },
      store,
    );

    // Assess: the tenant route takes the message's secret, the partner route refuses it
    expect(routes.map((r) => [r.settings.relay.host, r.settings.auth.pass, r.origins['auth.messageKeysources']])).toEqual([
      ['smtp.tenant.example', { secret: 'mailrelay/acme/m365' }, 'global'],
    ]);
    expect(failures.map((f) => [f.recipients.map((r) => r.address), f.error.issues[0]?.path])).toEqual([[['alice@partner.example'], 'auth.pass']]);
    expect(failures[0]!.error.message).toContain('auth.messageKeysources: mailrelay/partner/');
  });

  it('an allowance inherited from a lower scope does not cover a relay a higher scope chose (a domain item pointing at a partner relay)', () => {
    // Prepare
    const message = { origin: 'message', item: { auth: { pass: { secret: 'mailrelay/acme/m365' } } } };
    const binding = { origin: 'binding#acme', item: { relay: { host: 'smtp.tenant.example' }, auth: { user: 'u', messageKeysources: ['mailrelay/acme/'] } } };

    // Act
    const partnerRelay = mergeLayers([binding, { origin: 'domain#partner.example', item: { relay: { host: 'smtp.partner.example' } } }, message], 'a.example');
    const clearText = mergeLayers([binding, { origin: 'domain#partner.example', item: { relay: { tls: 'none', allowInsecureAuth: true } } }, message], 'a.example');
    const vetted = mergeLayers(
      [binding, { origin: 'domain#partner.example', item: { relay: { host: 'smtp.partner.example' }, auth: { messageKeysources: ['mailrelay/acme/'] } } }, message],
      'a.example',
    );
    const sameScope = mergeLayers([binding, message], 'a.example');

    // Assess
    expect(partnerRelay).toBeInstanceOf(ConfigValidationError);
    expect((partnerRelay as ConfigValidationError).issues).toEqual([
      {
        path: 'auth.pass',
        message:
          'the message names secret:mailrelay/acme/m365, allowed by auth.messageKeysources in binding#acme, but domain#partner.example sets relay.host of this route and does not allow message keysources itself',
      },
    ]);
    expect((clearText as ConfigValidationError).issues?.[0]?.message).toContain('domain#partner.example sets relay.tls');
    expect(vetted).not.toBeInstanceOf(ConfigValidationError);
    expect(sameScope).not.toBeInstanceOf(ConfigValidationError);
  });

  it('a failover list set by a higher scope is covered only if that scope allows message keysources too', () => {
    // Prepare
    const message = { origin: 'message', item: { auth: { pass: { secret: 'mailrelay/acme/m365' } } } };
    const binding = { origin: 'binding#acme', item: { relay: { host: 'smtp.tenant.example' }, auth: { user: 'u', messageKeysources: ['mailrelay/acme/'] } } };
    const partnerList = { relay: [{ host: 'smtp1.partner.example' }, { host: 'smtp2.partner.example', tls: 'implicit' as const }] };

    // Act
    const refused = mergeLayers([binding, { origin: 'domain#partner.example', item: partnerList }, message], 'a.example');
    const allowed = mergeLayers([binding, { origin: 'domain#partner.example', item: { ...partnerList, auth: { messageKeysources: ['mailrelay/acme/'] } } }, message], 'a.example');

    // Assess
    expect((refused as ConfigValidationError).issues?.map((i) => i.path)).toEqual(['auth.pass']);
    expect((refused as ConfigValidationError).issues?.[0]?.message).toContain('domain#partner.example sets relay.host');
    expect(allowed).not.toBeInstanceOf(ConfigValidationError);
  });

  it('parameters match a prefix with or without the leading slash; a config item’s own pass is never restricted', () => {
    const layers = (pass: { parameter: string } | { secret: string }) => [
      { origin: 'global', item: { relay: { host: 'h.example' }, auth: { user: 'u', messageKeysources: ['/mailrelay/acme/'] } } },
      { origin: 'message', item: { auth: { pass } } },
    ];
    expect(mergeLayers(layers({ parameter: '/mailrelay/acme/pw' }), 'a.example')).not.toBeInstanceOf(ConfigValidationError);
    expect(mergeLayers(layers({ secret: 'mailrelay/acme/pw' }), 'a.example')).not.toBeInstanceOf(ConfigValidationError);
    expect(mergeLayers(layers({ secret: 'mailrelay/acme-prod/pw' }), 'a.example')).toBeInstanceOf(ConfigValidationError);
    expect(mergeLayers([{ origin: 'global', item: { relay: { host: 'h.example' }, auth: { user: 'u', pass: { secret: 'mailrelay/any' } } } }], 'a.example')).not.toBeInstanceOf(
      ConfigValidationError,
    );
  });

  it('a prefix must end with "/"', () => {
    expect(issuesOf({ scope: 'global', auth: { messageKeysources: ['mailrelay/acme'] } })).toEqual([
      'auth.messageKeysources[0]: must be a name prefix ending with "/" (e.g. "mailrelay/acme/")',
    ]);
  });
});
