/**
 * The ports through which the AWS-free core reaches the world. AWS adapters (lambda/adapters)
 * and the local stand-ins implement them; tests may implement them in memory.
 */
import type { Keysource, OAuth2Client } from './config/schema.js';

/** Reads config items by scope (`global`, `binding#acme`, `domain#partner.example`, ...). */
export interface ConfigStore {
  /**
   * The raw stored items for the scopes asked for; a scope with no item is simply absent.
   * Items are returned unvalidated: the core validates each one, so a broken item only
   * affects the messages that use it.
   */
  getItems(scopes: readonly string[]): Promise<ReadonlyMap<string, unknown>>;
}

export interface ReadOptions {
  /** Skip any cache: used once after an authentication failure, because credentials rotate. */
  readonly forceRefresh?: boolean;
}

/**
 * Reads the stored string a keysource points at (a Secrets Manager SecretString, an SSM
 * SecureString, an environment variable, an inline value). Interpreting JSON and `field` is the
 * core's job (keysources.ts).
 * @throws KeysourceNotFoundError when the secret/parameter/variable does not exist.
 */
export interface SecretSource {
  read(ref: Keysource, options?: ReadOptions): Promise<string>;
}

/** Obtains OAuth2 access tokens for XOAUTH2 (issue: XOAUTH2 done properly). */
export interface TokenProvider {
  getAccessToken(client: OAuth2Client, user: string, options?: ReadOptions): Promise<string>;
}
