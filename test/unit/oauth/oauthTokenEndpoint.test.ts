import { afterEach, describe, expect, it } from 'vitest';
import { startOAuthTokenEndpoint, type OAuthTokenEndpoint } from '../../../local/oauthTokenEndpoint.js';
import { manualClock } from './helpers.js';

let endpoint: OAuthTokenEndpoint | undefined;

afterEach(async () => {
  await endpoint?.stop();
  endpoint = undefined;
});

async function post(url: string, form: Record<string, string>, headers: Record<string, string> = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form).toString(),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('startOAuthTokenEndpoint', () => {
  it('issues opaque bearer tokens that stay valid until they expire on its clock', async () => {
    // Prepare
    const clock = manualClock();
    endpoint = await startOAuthTokenEndpoint({ clients: { app: 'secret' }, expiresInSeconds: 60, now: clock.now });

    // Act
    const { status, body } = await post(endpoint.url, { grant_type: 'client_credentials', client_id: 'app', client_secret: 'secret', scope: 's' });
    const token = String(body.access_token);
    const validAtFirst = endpoint.isValid(token);
    clock.advanceSeconds(60);

    // Assess
    expect(endpoint.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/token$/);
    expect(status).toBe(200);
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 60, scope: 's' });
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(validAtFirst).toBe(true);
    expect(endpoint.isValid(token)).toBe(false);
    expect(endpoint.isValid('never-issued')).toBe(false);
    expect(endpoint.issuedCount).toBe(1);
  });

  it('accepts HTTP Basic client authentication and revokes tokens', async () => {
    // Prepare
    endpoint = await startOAuthTokenEndpoint({ clients: { app: 'secret' } });
    const basic = `Basic ${Buffer.from('app:secret').toString('base64')}`;

    // Act
    const first = await post(endpoint.url, { grant_type: 'client_credentials', scope: 's' }, { authorization: basic });
    const second = await post(endpoint.url, { grant_type: 'client_credentials', scope: 's' }, { authorization: basic });
    const revokedOne = endpoint.revoke(String(first.body.access_token));
    const firstValid = endpoint.isValid(String(first.body.access_token));
    const secondValid = endpoint.isValid(String(second.body.access_token));
    endpoint.revokeAll();

    // Assess
    expect(first.status).toBe(200);
    expect(revokedOne).toBe(true);
    expect(firstValid).toBe(false);
    expect(secondValid).toBe(true);
    expect(endpoint.isValid(String(second.body.access_token))).toBe(false);
    expect(endpoint.requests[0]?.clientAuth).toBe('basic');
  });

  it.each([
    [{ grant_type: 'client_credentials', client_id: 'app', client_secret: 'wrong', scope: 's' }, 401, 'invalid_client'],
    [{ grant_type: 'client_credentials', client_id: 'nobody', client_secret: 'secret', scope: 's' }, 401, 'invalid_client'],
    [{ grant_type: 'client_credentials', client_id: 'app', client_secret: 'secret' }, 400, 'invalid_request'],
    [{ grant_type: 'client_credentials', client_id: 'app', client_secret: 'secret', scope: 'other' }, 400, 'invalid_scope'],
    [{ grant_type: 'refresh_token', client_id: 'app', client_secret: 'secret', refresh_token: 'unknown' }, 400, 'invalid_grant'],
    [{ grant_type: 'password', client_id: 'app', client_secret: 'secret' }, 400, 'unsupported_grant_type'],
  ])('answers %j with HTTP %i %s', async (form, status, error) => {
    // Prepare
    endpoint = await startOAuthTokenEndpoint({ clients: { app: 'secret' }, scopes: ['s'] });

    // Act
    const response = await post(endpoint.url, form);

    // Assess
    expect(response.status).toBe(status);
    expect(response.body.error).toBe(error);
    expect(typeof response.body.error_description).toBe('string');
    expect(endpoint.issuedCount).toBe(0);
  });

  it('plays scripted answers in order, then answers normally again', async () => {
    // Prepare
    endpoint = await startOAuthTokenEndpoint({ clients: { app: 'secret' }, refreshTokens: { rt: 'app' } });
    endpoint.failNext({ status: 503, body: { error: 'temporarily_unavailable' } }, { status: 400, body: { error: 'invalid_grant' } });
    const form = { grant_type: 'refresh_token', client_id: 'app', client_secret: 'secret', refresh_token: 'rt' };

    // Act
    const statuses = [(await post(endpoint.url, form)).status, (await post(endpoint.url, form)).status, (await post(endpoint.url, form)).status];

    // Assess
    expect(statuses).toEqual([503, 400, 200]);
    expect(endpoint.requestCount).toBe(3);
    expect(endpoint.issuedCount).toBe(1);
  });

  it('answers 404 off its path and 405 to anything but POST', async () => {
    // Prepare
    endpoint = await startOAuthTokenEndpoint({ clients: {} });

    // Act
    const notFound = await fetch(endpoint.url.replace('/token', '/other'), { method: 'POST' });
    const wrongMethod = await fetch(endpoint.url);

    // Assess
    expect(notFound.status).toBe(404);
    expect(wrongMethod.status).toBe(405);
    expect(endpoint.requestCount).toBe(0);
  });
});
