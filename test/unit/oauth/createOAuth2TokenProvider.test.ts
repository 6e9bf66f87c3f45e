import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PermanentDeliveryError, TransientDeliveryError } from '../../../lambda/core/errors.js';
import { createOAuth2TokenProvider } from '../../../lambda/core/oauth/index.js';
import { startOAuthTokenEndpoint, type OAuthTokenEndpoint } from '../../../local/oauthTokenEndpoint.js';
import {
  CLIENT_ID,
  CLIENT_SECRET,
  REFRESH_TOKEN,
  USER,
  clientCredentials,
  fakeSecrets,
  manualClock,
  refreshTokenClient,
  rejectionOf,
} from './helpers.js';

let endpoint: OAuthTokenEndpoint;
let secrets: ReturnType<typeof fakeSecrets>;

beforeEach(async () => {
  endpoint = await startOAuthTokenEndpoint({ clients: { [CLIENT_ID]: CLIENT_SECRET }, refreshTokens: { [REFRESH_TOKEN]: CLIENT_ID } });
  secrets = fakeSecrets({ 'mailrelay/oauth': CLIENT_SECRET, 'mailrelay/refresh': REFRESH_TOKEN });
});

afterEach(async () => {
  await endpoint.stop();
});

describe('createOAuth2TokenProvider: caching', () => {
  it('fetches a token on the first call and serves the second from the cache', async () => {
    // Prepare
    const provider = createOAuth2TokenProvider({ resolveSecret: secrets.resolveSecret });
    const client = clientCredentials(endpoint.url);

    // Act
    const first = await provider.getAccessToken(client, USER);
    const second = await provider.getAccessToken(client, USER);

    // Assess
    expect(endpoint.isValid(first)).toBe(true);
    expect(second).toBe(first);
    expect(endpoint.requestCount).toBe(1);
    expect(endpoint.requests[0]).toMatchObject({ grantType: 'client_credentials', clientId: CLIENT_ID, scope: client.scope, clientAuth: 'post', status: 200 });
  });

  it('renews the token refreshMarginSeconds before expires_in runs out', async () => {
    // Prepare
    const clock = manualClock();
    const provider = createOAuth2TokenProvider({ resolveSecret: secrets.resolveSecret, now: clock.now });
    const client = clientCredentials(endpoint.url);
    const first = await provider.getAccessToken(client, USER);

    // Act
    clock.advanceSeconds(3600 - 300 - 1);
    const stillCached = await provider.getAccessToken(client, USER);
    clock.advanceSeconds(1);
    const renewed = await provider.getAccessToken(client, USER);

    // Assess
    expect(stillCached).toBe(first);
    expect(renewed).not.toBe(first);
    expect(endpoint.isValid(renewed)).toBe(true);
    expect(endpoint.requestCount).toBe(2);
  });

  it('never keeps a margin of more than half the lifetime of a short-lived token', async () => {
    // Prepare
    endpoint.expiresInSeconds = 100;
    const clock = manualClock();
    const provider = createOAuth2TokenProvider({ resolveSecret: secrets.resolveSecret, now: clock.now });
    const client = clientCredentials(endpoint.url);
    const first = await provider.getAccessToken(client, USER);

    // Act
    clock.advanceSeconds(49);
    const stillCached = await provider.getAccessToken(client, USER);
    clock.advanceSeconds(1);
    const renewed = await provider.getAccessToken(client, USER);

    // Assess
    expect(stillCached).toBe(first);
    expect(renewed).not.toBe(first);
    expect(endpoint.requestCount).toBe(2);
  });

  it('assumes a short lifetime when the endpoint sends no expires_in, and accepts it as a numeric string', async () => {
    // Prepare
    const clock = manualClock();
    const provider = createOAuth2TokenProvider({ resolveSecret: secrets.resolveSecret, now: clock.now, refreshMarginSeconds: 0 });
    const client = clientCredentials(endpoint.url);
    endpoint.failNext({ status: 200, body: { access_token: 'no-expiry', token_type: 'Bearer' } }, { status: 200, body: { access_token: 'string-expiry', token_type: 'bearer', expires_in: '7200' } });

    // Act
    const noExpiry = await provider.getAccessToken(client, USER);
    clock.advanceSeconds(599);
    const cached = await provider.getAccessToken(client, USER);
    clock.advanceSeconds(1);
    const stringExpiry = await provider.getAccessToken(client, USER);
    clock.advanceSeconds(7199);
    const cachedAgain = await provider.getAccessToken(client, USER);

    // Assess
    expect([noExpiry, cached, stringExpiry, cachedAgain]).toEqual(['no-expiry', 'no-expiry', 'string-expiry', 'string-expiry']);
    expect(endpoint.requestCount).toBe(2);
  });

  it('shares one request among 50 concurrent callers', async () => {
    // Prepare
    const provider = createOAuth2TokenProvider({ resolveSecret: secrets.resolveSecret });
    const client = clientCredentials(endpoint.url);

    // Act
    const tokens = await Promise.all(Array.from({ length: 50 }, () => provider.getAccessToken(client, USER)));

    // Assess
    expect(endpoint.requestCount).toBe(1);
    expect(new Set(tokens).size).toBe(1);
    expect(endpoint.isValid(tokens[0] as string)).toBe(true);
    expect(secrets.calls).toEqual([{ id: 'mailrelay/oauth', forceRefresh: false }]);
  });

  it('keeps one token per client and scope, not per message-chosen auth.user (a message cannot force a token request each time)', async () => {
    // Prepare
    const provider = createOAuth2TokenProvider({ resolveSecret: secrets.resolveSecret });
    const client = clientCredentials(endpoint.url);

    // Act: 100 messages each naming another mailbox as auth.user
    const perUser = await Promise.all(Array.from({ length: 100 }, (_, i) => provider.getAccessToken(client, `user${i}@acme.example`)));
    const otherScope = await provider.getAccessToken({ ...client, scope: 'https://example.test/other' }, USER);
    const otherClient = await provider.getAccessToken({ ...client, clientId: 'other-app' }, USER).catch(() => 'refused');

    // Assess
    expect(new Set(perUser).size).toBe(1);
    expect(otherScope).not.toBe(perUser[0]);
    expect(otherClient).not.toBe(perUser[0]);
    expect(endpoint.requestCount).toBe(3);
    expect(provider.cacheSize).toBeLessThanOrEqual(3);
  });
});

describe('createOAuth2TokenProvider: forced renewal', () => {
  it('fetches a new token once for 50 concurrent forced callers and re-reads the secret', async () => {
    // Prepare
    const provider = createOAuth2TokenProvider({ resolveSecret: secrets.resolveSecret });
    const client = clientCredentials(endpoint.url);
    const rejected = await provider.getAccessToken(client, USER);
    endpoint.revoke(rejected);

    // Act
    const tokens = await Promise.all(Array.from({ length: 50 }, () => provider.getAccessToken(client, USER, { forceRefresh: true })));
    const afterwards = await provider.getAccessToken(client, USER);

    // Assess
    expect(endpoint.requestCount).toBe(2);
    expect(new Set(tokens).size).toBe(1);
    expect(tokens[0]).not.toBe(rejected);
    expect(endpoint.isValid(tokens[0] as string)).toBe(true);
    expect(afterwards).toBe(tokens[0]);
    expect(secrets.calls.at(-1)).toEqual({ id: 'mailrelay/oauth', forceRefresh: true });
  });

  it('uses a rotated client secret on a forced renewal', async () => {
    // Prepare
    const provider = createOAuth2TokenProvider({ resolveSecret: secrets.resolveSecret });
    const client = clientCredentials(endpoint.url);
    await provider.getAccessToken(client, USER);
    endpoint.setClientSecret(CLIENT_ID, 'rotated-secret-value');
    secrets.rotate('mailrelay/oauth', 'rotated-secret-value');

    // Act
    const token = await provider.getAccessToken(client, USER, { forceRefresh: true });

    // Assess
    expect(endpoint.isValid(token)).toBe(true);
    expect(endpoint.requests.map((request) => request.status)).toEqual([200, 200]);
  });

  it('does not let a slower plain request overwrite the token of a forced one', async () => {
    // Prepare
    const provider = createOAuth2TokenProvider({ resolveSecret: secrets.resolveSecret });
    const client = clientCredentials(endpoint.url);
    endpoint.failNext({ status: 200, body: { access_token: 'slow-plain-token', token_type: 'Bearer', expires_in: 3600 }, delayMs: 300 });

    // Act
    const plain = provider.getAccessToken(client, USER);
    const forced = provider.getAccessToken(client, USER, { forceRefresh: true });
    const [plainToken, forcedToken] = await Promise.all([plain, forced]);
    const afterwards = await provider.getAccessToken(client, USER);

    // Assess
    expect(plainToken).toBe('slow-plain-token');
    expect(endpoint.isValid(forcedToken)).toBe(true);
    expect(afterwards).toBe(forcedToken);
    expect(endpoint.requestCount).toBe(2);
  });

  it('retries once with re-read credentials when the endpoint rejects a stale cached secret', async () => {
    // Prepare
    const provider = createOAuth2TokenProvider({ resolveSecret: secrets.resolveSecret });
    const client = clientCredentials(endpoint.url);
    endpoint.setClientSecret(CLIENT_ID, 'rotated-secret-value');
    secrets.rotate('mailrelay/oauth', 'rotated-secret-value');

    // Act
    const token = await provider.getAccessToken(client, USER);

    // Assess
    expect(endpoint.isValid(token)).toBe(true);
    expect(endpoint.requests.map((request) => request.status)).toEqual([401, 200]);
    expect(secrets.calls).toEqual([
      { id: 'mailrelay/oauth', forceRefresh: false },
      { id: 'mailrelay/oauth', forceRefresh: true },
    ]);
  });
});

describe('createOAuth2TokenProvider: refresh-token flow', () => {
  it('exchanges the refresh token and sends the scope only when set', async () => {
    // Prepare
    const provider = createOAuth2TokenProvider({ resolveSecret: secrets.resolveSecret });

    // Act
    const withoutScope = await provider.getAccessToken(refreshTokenClient(endpoint.url), USER);
    const withScope = await provider.getAccessToken(refreshTokenClient(endpoint.url, { scope: 'https://mail.google.com/' }), USER);

    // Assess
    expect(endpoint.isValid(withoutScope)).toBe(true);
    expect(endpoint.isValid(withScope)).toBe(true);
    expect(endpoint.tokenInfo(withoutScope)).toMatchObject({ grantType: 'refresh_token', clientId: CLIENT_ID, scope: undefined });
    expect(endpoint.requests).toMatchObject([
      { grantType: 'refresh_token', scope: undefined, status: 200 },
      { grantType: 'refresh_token', scope: 'https://mail.google.com/', status: 200 },
    ]);
  });

  it('works for a public client without a client secret', async () => {
    // Prepare
    endpoint.setClientSecret('public-app', '');
    endpoint.setRefreshToken('public-refresh-token', 'public-app');
    const provider = createOAuth2TokenProvider({ resolveSecret: secrets.resolveSecret });
    const client = { tokenUrl: endpoint.url, allowLoopbackHttp: true, clientId: 'public-app', refreshToken: { value: 'public-refresh-token' } };

    // Act
    const token = await provider.getAccessToken(client, USER);

    // Assess
    expect(endpoint.isValid(token)).toBe(true);
    expect(endpoint.requests[0]).toMatchObject({ clientAuth: 'none', status: 200 });
  });

  it('fails permanently with invalid_grant when the refresh token is revoked', async () => {
    // Prepare
    endpoint.setRefreshToken(REFRESH_TOKEN, undefined);
    const provider = createOAuth2TokenProvider({ resolveSecret: secrets.resolveSecret });

    // Act
    const error = await rejectionOf(provider.getAccessToken(refreshTokenClient(endpoint.url), USER));

    // Assess
    expect(error).toBeInstanceOf(PermanentDeliveryError);
    expect((error as PermanentDeliveryError).reason).toBe('token-endpoint');
    expect((error as Error).message).toContain('invalid_grant: Token has been expired or revoked.');
    // The secret did not change when re-read, so there is no second request.
    expect(endpoint.requestCount).toBe(1);
  });
});

describe('createOAuth2TokenProvider: errors', () => {
  it('fails permanently on invalid_client with the endpoint text', async () => {
    // Prepare
    secrets = fakeSecrets({ 'mailrelay/oauth': 'wrong-secret-value' });
    const provider = createOAuth2TokenProvider({ resolveSecret: secrets.resolveSecret });

    // Act
    const error = await rejectionOf(provider.getAccessToken(clientCredentials(endpoint.url), USER));

    // Assess
    expect(error).toBeInstanceOf(PermanentDeliveryError);
    const delivery = error as PermanentDeliveryError;
    expect(delivery.reason).toBe('token-endpoint');
    expect(delivery.message).toContain(`token endpoint ${endpoint.url} refused client '${CLIENT_ID}'`);
    expect(delivery.message).toContain('HTTP 401 invalid_client: client authentication failed: invalid client secret');
    expect(delivery.response).toBe('HTTP 401 invalid_client: client authentication failed: invalid client secret');
    expect(endpoint.requestCount).toBe(1);
  });

  it.each([
    { status: 503, body: '<html>Service Unavailable</html>' },
    { status: 500, body: { error: 'server_error', error_description: 'AADSTS90033: A transient error has occurred.' } },
    { status: 429, body: { error: 'too_many_requests' }, headers: { 'retry-after': '30' } },
    { status: 408, body: {} },
    { status: 400, body: { error: 'temporarily_unavailable' } },
  ])('fails transiently on HTTP $status and caches nothing', async (scripted) => {
    // Prepare
    const provider = createOAuth2TokenProvider({ resolveSecret: secrets.resolveSecret });
    const client = clientCredentials(endpoint.url);
    endpoint.failNext(scripted);

    // Act
    const error = await rejectionOf(provider.getAccessToken(client, USER));
    const retried = await provider.getAccessToken(client, USER);

    // Assess
    expect(error).toBeInstanceOf(TransientDeliveryError);
    expect((error as TransientDeliveryError).reason).toBe('token-endpoint');
    expect((error as Error).message).toContain(`HTTP ${scripted.status}`);
    expect(endpoint.isValid(retried)).toBe(true);
    expect(endpoint.requestCount).toBe(2);
  });

  it('mentions Retry-After and the endpoint error code of a transient failure', async () => {
    // Prepare
    const provider = createOAuth2TokenProvider({ resolveSecret: secrets.resolveSecret });
    endpoint.failNext({ status: 429, body: { error: 'too_many_requests', error_description: 'slow down' }, headers: { 'retry-after': '30' } });

    // Act
    const error = await rejectionOf(provider.getAccessToken(clientCredentials(endpoint.url), USER));

    // Assess
    expect((error as Error).message).toMatch(/HTTP 429 too_many_requests: slow down; retry after 30 s$/);
  });

  it.each([
    { error: 'invalid_scope', status: 400 },
    { error: 'invalid_request', status: 400 },
    { error: 'unauthorized_client', status: 400 },
    { error: undefined, status: 403 },
  ])('fails permanently on HTTP $status $error', async ({ error: code, status }) => {
    // Prepare
    const provider = createOAuth2TokenProvider({ resolveSecret: secrets.resolveSecret });
    endpoint.failNext({ status, body: code === undefined ? 'Forbidden' : { error: code, error_description: `because ${code}` } });

    // Act
    const error = await rejectionOf(provider.getAccessToken(clientCredentials(endpoint.url), USER));

    // Assess
    expect(error).toBeInstanceOf(PermanentDeliveryError);
    expect((error as PermanentDeliveryError).reason).toBe('token-endpoint');
    expect((error as Error).message).toContain(code === undefined ? `HTTP ${status} Forbidden` : `HTTP ${status} ${code}: because ${code}`);
  });

  it('fails transiently when the endpoint does not answer in time', async () => {
    // Prepare
    const provider = createOAuth2TokenProvider({ resolveSecret: secrets.resolveSecret, requestTimeoutMs: 100 });
    endpoint.failNext({ status: 200, body: {}, delayMs: 5_000 });

    // Act
    const error = await rejectionOf(provider.getAccessToken(clientCredentials(endpoint.url), USER));

    // Assess
    expect(error).toBeInstanceOf(TransientDeliveryError);
    expect((error as Error).message).toContain('did not answer within 100 ms');
  });

  it('fails transiently when the endpoint is unreachable', async () => {
    // Prepare
    const gone = await startOAuthTokenEndpoint({ clients: {} });
    await gone.stop();
    const provider = createOAuth2TokenProvider({ resolveSecret: secrets.resolveSecret });

    // Act
    const error = await rejectionOf(provider.getAccessToken(clientCredentials(gone.url), USER));

    // Assess
    expect(error).toBeInstanceOf(TransientDeliveryError);
    expect((error as TransientDeliveryError).reason).toBe('token-endpoint');
    expect((error as Error).message).toMatch(/unreachable .*ECONNREFUSED/);
  });

  it('fails permanently on a non-bearer token and transiently on a 200 that is not a token response', async () => {
    // Prepare
    const provider = createOAuth2TokenProvider({ resolveSecret: secrets.resolveSecret });
    const client = clientCredentials(endpoint.url);
    endpoint.failNext(
      { status: 200, body: { access_token: 'mac-token-value', token_type: 'mac', expires_in: 3600 } },
      { status: 200, body: '<html>captive portal</html>' },
      { status: 200, body: { token_type: 'Bearer', expires_in: 3600 } },
      { status: 200, body: { access_token: 'has space', token_type: 'Bearer' } },
    );

    // Act
    const nonBearer = await rejectionOf(provider.getAccessToken(client, USER));
    const html = await rejectionOf(provider.getAccessToken(client, USER));
    const noToken = await rejectionOf(provider.getAccessToken(client, USER));
    const badToken = await rejectionOf(provider.getAccessToken(client, USER));

    // Assess
    expect(nonBearer).toBeInstanceOf(PermanentDeliveryError);
    expect((nonBearer as Error).message).toContain("issued a 'mac' token");
    expect((nonBearer as Error).message).not.toContain('mac-token-value');
    expect(html).toBeInstanceOf(TransientDeliveryError);
    expect((html as Error).message).toContain('HTTP 200 without a JSON token response');
    expect(noToken).toBeInstanceOf(TransientDeliveryError);
    expect(badToken).toBeInstanceOf(TransientDeliveryError);
    expect((badToken as Error).message).toContain('without a usable access_token');
  });

  it('does not follow redirects, which would re-send the client secret elsewhere', async () => {
    // Prepare
    const elsewhere = await startOAuthTokenEndpoint({ clients: { [CLIENT_ID]: CLIENT_SECRET } });
    const provider = createOAuth2TokenProvider({ resolveSecret: secrets.resolveSecret });
    endpoint.failNext({ status: 307, body: '', headers: { location: elsewhere.url } });

    try {
      // Act
      const error = await rejectionOf(provider.getAccessToken(clientCredentials(endpoint.url), USER));

      // Assess
      expect(error).toBeInstanceOf(PermanentDeliveryError);
      expect((error as Error).message).toContain('redirected (HTTP 307)');
      expect(elsewhere.requestCount).toBe(0);
    } finally {
      await elsewhere.stop();
    }
  });

  it('rejects a client-credentials client without a client secret before any request', async () => {
    // Prepare
    const provider = createOAuth2TokenProvider({ resolveSecret: secrets.resolveSecret });
    const client = clientCredentials(endpoint.url, { clientSecret: undefined });

    // Act
    const error = await rejectionOf(provider.getAccessToken(client, USER));

    // Assess
    expect(error).toBeInstanceOf(PermanentDeliveryError);
    expect((error as PermanentDeliveryError).reason).toBe('invalid-config');
    expect(endpoint.requestCount).toBe(0);
  });

  it('rejects an empty client secret as a missing secret', async () => {
    // Prepare
    secrets = fakeSecrets({ 'mailrelay/oauth': ' \n' });
    const provider = createOAuth2TokenProvider({ resolveSecret: secrets.resolveSecret });

    // Act
    const error = await rejectionOf(provider.getAccessToken(clientCredentials(endpoint.url), USER));

    // Assess
    expect(error).toBeInstanceOf(PermanentDeliveryError);
    expect((error as PermanentDeliveryError).reason).toBe('secret-missing');
    expect(endpoint.requestCount).toBe(0);
  });

  it('passes secret-store errors through and retries on the next call', async () => {
    // Prepare
    let failures = 1;
    const outage = new TransientDeliveryError('secrets manager throttled', { reason: 'aws-throttled' });
    const provider = createOAuth2TokenProvider({
      resolveSecret: async (ref, options) => {
        if (failures-- > 0) throw outage;
        return secrets.resolveSecret(ref, options);
      },
    });
    const client = clientCredentials(endpoint.url);

    // Act
    const error = await rejectionOf(provider.getAccessToken(client, USER));
    const token = await provider.getAccessToken(client, USER);

    // Assess
    expect(error).toBe(outage);
    expect(endpoint.isValid(token)).toBe(true);
  });

  it('trims white space around secrets read from their keysources', async () => {
    // Prepare
    secrets = fakeSecrets({ 'mailrelay/oauth': `${CLIENT_SECRET}\n` });
    const provider = createOAuth2TokenProvider({ resolveSecret: secrets.resolveSecret });

    // Act
    const token = await provider.getAccessToken(clientCredentials(endpoint.url), USER);

    // Assess
    expect(endpoint.isValid(token)).toBe(true);
  });
});

describe('createOAuth2TokenProvider: secrets never reach an error', () => {
  it('keeps the client secret, refresh token and access tokens out of every error', async () => {
    // Prepare: an endpoint that echoes what it was sent, the worst case.
    const provider = createOAuth2TokenProvider({ resolveSecret: secrets.resolveSecret });
    const issued = await provider.getAccessToken(refreshTokenClient(endpoint.url), USER);
    endpoint.failNext(
      { status: 401, body: { error: 'invalid_client', error_description: `bad secret ${CLIENT_SECRET} for refresh ${REFRESH_TOKEN}` } },
      { status: 503, body: { error: `server_error ${CLIENT_SECRET}`, error_description: `${REFRESH_TOKEN}\r\nTrace ID: 1` } },
      { status: 200, body: { access_token: `${issued} x`, token_type: 'Bearer' } },
    );

    // Act
    const errors = [
      await rejectionOf(provider.getAccessToken(refreshTokenClient(endpoint.url), USER, { forceRefresh: true })),
      await rejectionOf(provider.getAccessToken(refreshTokenClient(endpoint.url), USER, { forceRefresh: true })),
      await rejectionOf(provider.getAccessToken(refreshTokenClient(endpoint.url), USER, { forceRefresh: true })),
    ];

    // Assess
    expect(errors[0]).toBeInstanceOf(PermanentDeliveryError);
    expect(errors[1]).toBeInstanceOf(TransientDeliveryError);
    expect(errors[2]).toBeInstanceOf(TransientDeliveryError);
    expect((errors[0] as Error).message).toContain('bad secret [redacted] for refresh [redacted]');
    expect((errors[1] as Error).message).toContain('[redacted] Trace ID: 1');
    for (const error of errors) {
      const seen = [
        (error as Error).message,
        (error as Error).stack ?? '',
        JSON.stringify(error),
        JSON.stringify({ ...(error as object) }),
        String((error as PermanentDeliveryError).response),
      ].join('\n');
      for (const secret of [CLIENT_SECRET, REFRESH_TOKEN, issued]) expect(seen).not.toContain(secret);
      expect(seen).not.toMatch(/[\r\n]Trace/);
    }
  });

  it('keeps the client secret out of a real invalid_client answer', async () => {
    // Prepare
    endpoint.setClientSecret(CLIENT_ID, 'the-endpoint-now-wants-this');
    const provider = createOAuth2TokenProvider({ resolveSecret: secrets.resolveSecret });

    // Act
    const error = await rejectionOf(provider.getAccessToken(clientCredentials(endpoint.url), USER));

    // Assess
    expect(error).toBeInstanceOf(PermanentDeliveryError);
    const seen = `${(error as Error).message}\n${JSON.stringify(error)}\n${(error as Error).stack ?? ''}`;
    expect(seen).toContain('invalid_client');
    expect(seen).not.toContain(CLIENT_SECRET);
  });
});

describe('createOAuth2TokenProvider: options', () => {
  it('refuses unknown options and bad values', () => {
    // Prepare
    const resolveSecret = secrets.resolveSecret;

    // Act / Assess
    expect(() => createOAuth2TokenProvider({ resolveSecret, refreshMarginSecond: 1 } as never)).toThrow("unknown option 'refreshMarginSecond'");
    expect(() => createOAuth2TokenProvider({ resolveSecret, refreshMarginSeconds: -1 })).toThrow(RangeError);
    expect(() => createOAuth2TokenProvider({ resolveSecret, requestTimeoutMs: 0 })).toThrow(RangeError);
  });
});
