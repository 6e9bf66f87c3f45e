import { describe, expect, it } from 'vitest';
import { PermanentDeliveryError } from '../../../lambda/core/errors.js';
import {
  GOOGLE_MAIL_SCOPE,
  GOOGLE_TOKEN_URL,
  MICROSOFT_365_SMTP_SCOPE,
  createOAuth2TokenProvider,
  displayUrl,
  tokenEndpointUrl,
} from '../../../lambda/core/oauth/index.js';
import { CLIENT_SECRET, REFRESH_TOKEN, USER, fakeSecrets, rejectionOf } from './helpers.js';

/** A fetch that records what it was asked and answers with a token, without any network. */
function recordingFetch() {
  const calls: { url: string; init: RequestInit | undefined }[] = [];
  const fetchStub = (async (input: string | URL | Request, init?: RequestInit) => {
    calls.push({ url: String(input), init });
    return new Response(JSON.stringify({ access_token: 'eyJ0eXAiOiJKV1Qi.payload.sig', token_type: 'Bearer', expires_in: 3599 }), {
      status: 200,
      headers: { 'content-type': 'application/json' },
    });
  }) as typeof fetch;
  return { calls, fetch: fetchStub };
}

describe('tokenEndpointUrl', () => {
  it('builds the Microsoft identity platform v2.0 URL from a tenant id', () => {
    // Act / Assess
    expect(tokenEndpointUrl({ tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47' })).toBe(
      'https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token',
    );
    expect(tokenEndpointUrl({ tenantId: 'contoso.onmicrosoft.com' })).toBe('https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token');
  });

  it('keeps a tokenUrl as given', () => {
    // Act / Assess
    expect(tokenEndpointUrl({ tokenUrl: GOOGLE_TOKEN_URL })).toBe('https://oauth2.googleapis.com/token');
    expect(tokenEndpointUrl({ tokenUrl: 'https://login.microsoftonline.us/t/oauth2/v2.0/token?x=1' })).toBe('https://login.microsoftonline.us/t/oauth2/v2.0/token?x=1');
  });

  it.each([
    [{}, 'exactly one of'],
    [{ tokenUrl: 'https://a.example/token', tenantId: 'contoso' }, 'exactly one of'],
    [{ tenantId: 'contoso/../evil' }, 'tenant id or domain'],
    [{ tokenUrl: 'ftp://a.example/token' }, 'https URL'],
    [{ tokenUrl: 'not a url' }, 'https URL'],
    [{ tokenUrl: 'https://app:secret@a.example/token' }, 'must not carry credentials'],
  ])('refuses %j as a config error', (client, text) => {
    // Act
    let error: unknown;
    try {
      tokenEndpointUrl(client);
    } catch (caught) {
      error = caught;
    }

    // Assess
    expect(error).toBeInstanceOf(PermanentDeliveryError);
    expect((error as PermanentDeliveryError).reason).toBe('invalid-config');
    expect((error as Error).message).toContain(text);
    expect((error as Error).message).not.toContain('secret@');
  });

  it.each([
    ['http to a public host', { tokenUrl: 'http://idp.example/token' }, 'in clear to idp.example'],
    ['http to a private address', { tokenUrl: 'http://10.0.0.5/token' }, 'in clear to 10.0.0.5'],
    ['http to the link-local metadata address', { tokenUrl: 'http://169.254.169.254/latest/meta-data/' }, 'in clear to 169.254.169.254'],
    ['http to an internal name, even with the loopback flag', { tokenUrl: 'http://idp.internal/token', allowLoopbackHttp: true }, 'in clear to idp.internal'],
    ['http to loopback without the opt-in', { tokenUrl: 'http://127.0.0.1:8080/token' }, 'allowLoopbackHttp'],
  ])('an OAuth2 tokenUrl over http is refused (the client secret was POSTed in clear): %s', (_name, client, text) => {
    // Act
    const error = (() => {
      try {
        tokenEndpointUrl(client);
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();

    // Assess
    expect(error).toBeInstanceOf(PermanentDeliveryError);
    expect((error as PermanentDeliveryError).reason).toBe('invalid-config');
    expect((error as Error).message).toMatch(/^auth\.oauth2\.tokenUrl must be https/);
    expect((error as Error).message).toContain(text);
  });

  it('http to a loopback token URL works only with allowLoopbackHttp (a local test endpoint)', () => {
    // Act / Assess
    expect(tokenEndpointUrl({ tokenUrl: 'http://127.0.0.1:8080/token', allowLoopbackHttp: true })).toBe('http://127.0.0.1:8080/token');
    expect(tokenEndpointUrl({ tokenUrl: 'http://[::1]:8080/token', allowLoopbackHttp: true })).toBe('http://[::1]:8080/token');
    expect(tokenEndpointUrl({ tokenUrl: 'http://localhost/token', allowLoopbackHttp: true })).toBe('http://localhost/token');
  });

  it('shows only origin and path of an endpoint in messages', () => {
    // Act / Assess
    expect(displayUrl('https://idp.example/oauth/token?api_key=xyz#f')).toBe('https://idp.example/oauth/token');
  });
});

describe('createOAuth2TokenProvider request shape (no network)', () => {
  it('posts a Microsoft 365 client-credentials request to the tenant endpoint', async () => {
    // Prepare
    const recorder = recordingFetch();
    const secrets = fakeSecrets({ 'mailrelay/m365': CLIENT_SECRET });
    const provider = createOAuth2TokenProvider({ resolveSecret: secrets.resolveSecret, fetch: recorder.fetch });

    // Act
    const token = await provider.getAccessToken(
      { tenantId: 'contoso.onmicrosoft.com', clientId: 'app-guid', clientSecret: { secret: 'mailrelay/m365' }, scope: MICROSOFT_365_SMTP_SCOPE },
      USER,
    );

    // Assess
    expect(token).toBe('eyJ0eXAiOiJKV1Qi.payload.sig');
    expect(recorder.calls).toHaveLength(1);
    const call = recorder.calls[0];
    expect(call?.url).toBe('https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token');
    expect(call?.init?.method).toBe('POST');
    expect(call?.init?.redirect).toBe('manual');
    expect(call?.init?.signal).toBeInstanceOf(AbortSignal);
    expect(new Headers(call?.init?.headers).get('content-type')).toBe('application/x-www-form-urlencoded');
    expect(Object.fromEntries(new URLSearchParams(String(call?.init?.body)))).toEqual({
      grant_type: 'client_credentials',
      client_id: 'app-guid',
      client_secret: CLIENT_SECRET,
      scope: 'https://outlook.office365.com/.default',
    });
  });

  it('posts a Google refresh-token request with the mail scope', async () => {
    // Prepare
    const recorder = recordingFetch();
    const secrets = fakeSecrets({ 'mailrelay/google': CLIENT_SECRET, 'mailrelay/google-refresh': REFRESH_TOKEN });
    const provider = createOAuth2TokenProvider({ resolveSecret: secrets.resolveSecret, fetch: recorder.fetch });

    // Act
    await provider.getAccessToken(
      {
        tokenUrl: GOOGLE_TOKEN_URL,
        clientId: '123-abc.apps.googleusercontent.com',
        clientSecret: { secret: 'mailrelay/google' },
        refreshToken: { secret: 'mailrelay/google-refresh' },
        scope: GOOGLE_MAIL_SCOPE,
      },
      'me@gmail.example',
    );

    // Assess
    expect(recorder.calls[0]?.url).toBe('https://oauth2.googleapis.com/token');
    expect(Object.fromEntries(new URLSearchParams(String(recorder.calls[0]?.init?.body)))).toEqual({
      grant_type: 'refresh_token',
      client_id: '123-abc.apps.googleusercontent.com',
      client_secret: CLIENT_SECRET,
      refresh_token: REFRESH_TOKEN,
      scope: 'https://mail.google.com/',
    });
  });

  it('fails a bad tenant id as a config error without any request', async () => {
    // Prepare
    const recorder = recordingFetch();
    const provider = createOAuth2TokenProvider({ resolveSecret: fakeSecrets({}).resolveSecret, fetch: recorder.fetch });

    // Act
    const error = await rejectionOf(provider.getAccessToken({ tenantId: 'a/b', clientId: 'x', scope: 's', clientSecret: { value: 'v' } }, USER));

    // Assess
    expect(error).toBeInstanceOf(PermanentDeliveryError);
    expect((error as PermanentDeliveryError).reason).toBe('invalid-config');
    expect(recorder.calls).toHaveLength(0);
  });

  it('treats a response body beyond 64 KiB as no token response', async () => {
    // Prepare
    const huge = (async () => new Response(`{"access_token":"${'a'.repeat(70_000)}"}`, { status: 200 })) as typeof fetch;
    const provider = createOAuth2TokenProvider({ resolveSecret: fakeSecrets({}).resolveSecret, fetch: huge });

    // Act
    const error = await rejectionOf(provider.getAccessToken({ tokenUrl: 'https://idp.example/token', clientId: 'x', scope: 's', clientSecret: { value: 'v' } }, USER));

    // Assess
    expect((error as Error).name).toBe('TransientDeliveryError');
    expect((error as Error).message).toContain('without a JSON token response');
  });
});
