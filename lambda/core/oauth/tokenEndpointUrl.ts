import type { OAuth2Client } from '../config/schema.js';
import { PermanentDeliveryError } from '../errors.js';
import { MICROSOFT_LOGIN_ORIGIN } from './constants.js';
import { tokenUrlProblem } from './tokenUrlPolicy.js';

/**
 * The token endpoint of an OAuth2 client: its `tokenUrl`, or for a Microsoft `tenantId`
 * (a GUID, a verified domain such as `contoso.onmicrosoft.com`, or `organizations`)
 * `https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token`.
 *
 * Sovereign clouds (GCC High `login.microsoftonline.us`, China `login.chinacloudapi.cn`) use
 * `tokenUrl` with their own host.
 *
 * @throws PermanentDeliveryError (reason `invalid-config`) when both or neither are given, or the
 * URL carries credentials (`https://user:pass@host/`: secrets belong in keysources), or is not
 * https (http only to loopback with `allowLoopbackHttp`, see tokenUrlPolicy).
 * @example
 * tokenEndpointUrl({ tenantId: 'contoso.onmicrosoft.com', clientId: 'a', scope: 'x' });
 * // 'https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token'
 */
export function tokenEndpointUrl(client: Pick<OAuth2Client, 'tokenUrl' | 'tenantId' | 'allowLoopbackHttp'>): string {
  if ((client.tokenUrl === undefined) === (client.tenantId === undefined)) {
    throw configError('give exactly one of auth.oauth2.tokenUrl or auth.oauth2.tenantId');
  }
  if (client.tenantId !== undefined) {
    if (!/^[A-Za-z0-9.-]{1,256}$/.test(client.tenantId)) throw configError('auth.oauth2.tenantId must be a tenant id or domain');
    return `${MICROSOFT_LOGIN_ORIGIN}/${encodeURIComponent(client.tenantId)}/oauth2/v2.0/token`;
  }
  // Checked again here, not only when the item is validated: the secret is about to be POSTed.
  const problem = tokenUrlProblem(client.tokenUrl as string, client.allowLoopbackHttp);
  if (problem) throw configError(`auth.oauth2.tokenUrl ${problem}`);
  return new URL(client.tokenUrl as string).href;
}

/** The endpoint as it may appear in an error message or log line: origin and path, no query or fragment. */
export function displayUrl(endpoint: string): string {
  try {
    const url = new URL(endpoint);
    return `${url.origin}${url.pathname}`;
  } catch {
    return '(invalid token URL)';
  }
}

function configError(message: string): PermanentDeliveryError {
  return new PermanentDeliveryError(message, { reason: 'invalid-config' });
}
