/**
 * Where a client secret may be POSTed (docs/design.md §3): a token URL is `https`; `http` only
 * to a loopback address (127.0.0.0/8, ::1, localhost: a local test endpoint) and only with
 * `auth.oauth2.allowLoopbackHttp: true`. Anything else over http — a private, link-local
 * (169.254.169.254) or public host — would send the secret in clear, or to an internal service.
 */

/** Why `tokenUrl` may not be used, or undefined when it may. */
export function tokenUrlProblem(tokenUrl: string, allowLoopbackHttp = false): string | undefined {
  let url: URL;
  try {
    url = new URL(tokenUrl);
  } catch {
    return 'must be an https URL';
  }
  if (url.username !== '' || url.password !== '') return 'must not carry credentials: put the client secret in auth.oauth2.clientSecret';
  if (url.protocol === 'https:') return undefined;
  if (url.protocol !== 'http:') return 'must be an https URL';
  if (!isLoopbackHost(url.hostname)) {
    return `must be https: http would send the client secret in clear to ${url.hostname} (http is allowed only to a loopback address, with allowLoopbackHttp)`;
  }
  if (!allowLoopbackHttp) return 'must be https (http to a loopback address needs "allowLoopbackHttp": true in auth.oauth2)';
  return undefined;
}

/** 127.0.0.0/8, ::1 and `localhost` (URL.hostname keeps IPv6 brackets). */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/\.$/, '');
  if (host === 'localhost' || host === '[::1]') return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
