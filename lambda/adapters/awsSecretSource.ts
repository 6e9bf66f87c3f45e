/**
 * SecretSource for the four keysources: Secrets Manager (`secret`), SSM SecureString
 * (`parameter`), the environment (`env`) and inline values (`value`). Secrets and parameters must
 * live under the configured prefix (the function's IAM policy grants nothing else either);
 * reads are cached for a TTL and single-flighted; `forceRefresh` bypasses the cache, because
 * credentials rotate.
 */
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { Keysource } from '../core/config/schema.js';
import { PermanentDeliveryError } from '../core/errors.js';
import { describeKeysource } from '../core/keysources.js';
import { LruCache } from '../core/lruCache.js';
import type { ReadOptions, SecretSource } from '../core/ports.js';
import { ENV_KEYSOURCE_PATTERN, ENV_KEYSOURCE_PREFIX, isUnderPrefix, secretPrefixProblem } from '../core/secretPrefix.js';
import { classifyAwsError } from './awsErrors.js';

export interface AwsSecretSourceOptions {
  readonly secretsManager: Pick<SecretsManagerClient, 'send'>;
  readonly ssm: Pick<SSMClient, 'send'>;
  /**
   * Secret names and parameter names must start with it; it ends with `/`, and a leading `/` is
   * ignored on both the prefix and parameter names (lambda/core/secretPrefix.ts).
   */
  readonly prefix: string;
  /** @default 300_000 */
  readonly cacheTtlMs?: number;
  /** Secrets kept in the cache at most; the least recently used go first. @default 1_000 */
  readonly maxCacheEntries?: number;
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Called the first time an inline `value` keysource is read: plaintext secrets in config are for local use. */
  readonly onInlineValue?: (where: string) => void;
  readonly now?: () => number;
}

const DEFAULT_MAX_CACHE_ENTRIES = 1_000;

export class AwsSecretSource implements SecretSource {
  private readonly cache: LruCache<string, { value: string; expires: number }>;
  private readonly inflight = new Map<string, Promise<string>>();
  private warnedInline = false;
  private readonly ttl: number;
  private readonly now: () => number;

  public constructor(private readonly options: AwsSecretSourceOptions) {
    const problem = secretPrefixProblem(options.prefix);
    if (problem) throw new TypeError(`AwsSecretSource: invalid secret prefix: ${problem}`);
    this.ttl = options.cacheTtlMs ?? 300_000;
    this.now = options.now ?? Date.now;
    this.cache = new LruCache(options.maxCacheEntries ?? DEFAULT_MAX_CACHE_ENTRIES);
  }

  /** Secrets cached right now (at most `maxCacheEntries`). */
  public get cacheSize(): number {
    return this.cache.size;
  }

  public async read(ref: Keysource, options?: ReadOptions): Promise<string> {
    if ('value' in ref) {
      if (!this.warnedInline) {
        this.warnedInline = true;
        this.options.onInlineValue?.('an inline "value" keysource');
      }
      return ref.value;
    }
    if ('env' in ref) {
      // Config validation refuses other names too; this is the last line before process.env.
      if (!ENV_KEYSOURCE_PATTERN.test(ref.env)) {
        throw new PermanentDeliveryError(`env:${ref.env} is refused: env keysources read only variables named ${ENV_KEYSOURCE_PREFIX}*`, { reason: 'config-error' });
      }
      const value = (this.options.env ?? process.env)[ref.env];
      if (value === undefined) throw new PermanentDeliveryError(`environment variable ${ref.env} is not set`, { reason: 'secret-missing' });
      return value;
    }
    const key = 'secret' in ref ? `secret:${ref.secret}` : `parameter:${ref.parameter}`;
    this.checkPrefix(ref);
    if (!options?.forceRefresh) {
      const hit = this.cache.get(key);
      if (hit && hit.expires > this.now()) return hit.value;
    }
    // A forced read never joins a plain one that may return the stale value.
    const flightKey = options?.forceRefresh ? `${key}#force` : key;
    const pending = this.inflight.get(flightKey);
    if (pending) return pending;
    const promise = this.fetch(ref)
      .then((value) => {
        if (this.ttl > 0) this.cache.set(key, { value, expires: this.now() + this.ttl });
        return value;
      })
      .finally(() => this.inflight.delete(flightKey));
    this.inflight.set(flightKey, promise);
    return promise;
  }

  private checkPrefix(ref: Keysource): void {
    const { prefix } = this.options;
    if (!('secret' in ref || 'parameter' in ref) || !isUnderPrefix(ref, prefix)) {
      throw new PermanentDeliveryError(`${describeKeysource(ref)} is outside the allowed prefix "${prefix}"`, { reason: 'config-error' });
    }
  }

  private async fetch(ref: Keysource): Promise<string> {
    if ('secret' in ref) {
      try {
        const response = await this.options.secretsManager.send(new GetSecretValueCommand({ SecretId: ref.secret }));
        if (response.SecretString !== undefined) return response.SecretString;
        if (response.SecretBinary) return Buffer.from(response.SecretBinary).toString('utf-8');
        throw new PermanentDeliveryError(`secret ${ref.secret} has no value`, { reason: 'secret-missing' });
      } catch (error) {
        if (error instanceof PermanentDeliveryError) throw error;
        throw classifyAwsError(error, `reading secret ${ref.secret}`, 'secret-missing');
      }
    }
    if ('parameter' in ref) {
      try {
        // Imported here, not at the top: the SSM client is loaded only by sandboxes that read a parameter (lambda/adapters/lazy.ts).
        const { GetParameterCommand } = await import('./ssmParameters.js');
        const response = await this.options.ssm.send(new GetParameterCommand({ Name: ref.parameter, WithDecryption: true }));
        const value = response.Parameter?.Value;
        if (value === undefined) throw new PermanentDeliveryError(`parameter ${ref.parameter} has no value`, { reason: 'secret-missing' });
        return value;
      } catch (error) {
        if (error instanceof PermanentDeliveryError) throw error;
        throw classifyAwsError(error, `reading parameter ${ref.parameter}`, 'secret-missing');
      }
    }
    throw new PermanentDeliveryError('unknown keysource', { reason: 'config-error' });
  }
}
