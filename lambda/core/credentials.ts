/**
 * From effective auth settings to what an SMTP session sends: resolves keysources through the
 * SecretSource port and XOAUTH2 tokens through the TokenProvider port. Secrets live only in the
 * returned object, on their way to the relay.
 */
import type { EffectiveAuth } from './config/resolve.js';
import { isDeliveryError, PermanentDeliveryError, TransientDeliveryError } from './errors.js';
import { describeKeysource, resolveKeysource } from './keysources.js';
import type { SecretSource, TokenProvider } from './ports.js';
import type { SessionCredentials } from './smtp/session.js';

export interface CredentialSources {
  readonly secrets: SecretSource;
  readonly tokens?: TokenProvider | undefined;
}

/**
 * @param forceRefresh skip caches: the relay just refused the cached credentials.
 * @throws PermanentDeliveryError for configuration problems (no user, no token provider, missing
 *   secret or field); TransientDeliveryError when the secret store is unavailable.
 */
export async function buildCredentials(auth: EffectiveAuth, sources: CredentialSources, forceRefresh = false): Promise<SessionCredentials> {
  switch (auth.type) {
    case 'NONE':
      return { mechanism: 'NONE' };
    case 'PLAIN':
    case 'LOGIN': {
      // A literal secret from the auth hook: the user must come with it.
      if (auth.hookPass) {
        if (!auth.user) throw configError(`${auth.type} with a password from the auth hook needs a user (hook.user or auth.user)`);
        return { mechanism: auth.type, user: auth.user, pass: auth.hookPass.reveal() };
      }
      const pass = auth.pass;
      if (!pass) throw configError(`${auth.type} needs auth.pass`);
      const resolved = await guard(() => resolveKeysource(pass, sources.secrets, { forceRefresh }), describeKeysource(pass));
      // The configured user wins; a JSON secret's `username` fills in when the config names none.
      const user = auth.user ?? resolved.username;
      if (!user) throw configError(`${auth.type} needs auth.user, or a JSON secret with "username" at ${describeKeysource(pass)}`);
      return { mechanism: auth.type, user, pass: resolved.secret };
    }
    case 'XOAUTH2': {
      const user = auth.user;
      if (!user) throw configError('XOAUTH2 needs the mailbox as auth.user');
      const { oauth2, pass, hookPass } = auth;
      if (hookPass) return { mechanism: 'XOAUTH2', user, getToken: () => Promise.resolve(hookPass.reveal()) };
      if (oauth2) {
        const tokens = sources.tokens;
        if (!tokens) throw configError('XOAUTH2 with auth.oauth2 needs a token provider, and none is configured');
        return {
          mechanism: 'XOAUTH2',
          user,
          getToken: (renew) => guard(() => tokens.getAccessToken(oauth2, user, { forceRefresh: forceRefresh || renew }), `oauth2:${oauth2.clientId}`),
        };
      }
      if (!pass) throw configError('XOAUTH2 needs auth.pass (a bearer-token keysource) or auth.oauth2');
      return {
        mechanism: 'XOAUTH2',
        user,
        getToken: async (renew) =>
          (await guard(() => resolveKeysource(pass, sources.secrets, { forceRefresh: forceRefresh || renew }), describeKeysource(pass))).secret,
      };
    }
  }
}

async function guard<T>(read: () => Promise<T>, where: string): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (isDeliveryError(error)) throw error;
    throw new TransientDeliveryError(`could not read ${where}: ${(error as Error).message ?? String(error)}`, { reason: 'secret-unavailable' }, { cause: error });
  }
}

function configError(message: string): PermanentDeliveryError {
  return new PermanentDeliveryError(message, { reason: 'config-error' });
}
