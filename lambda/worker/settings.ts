/**
 * The worker's settings, read from the environment once per cold start. A missing or malformed
 * variable is an error that names it, raised at init so the deployment fails loudly.
 */
export interface WorkerSettings {
  readonly configTableName: string;
  readonly idempotencyTableName: string;
  readonly deadLetterQueueUrl: string;
  /** The source queue, for ChangeMessageVisibility. Derived from the record's ARN when absent. */
  readonly queueUrl?: string | undefined;
  /** Secrets and parameters a keysource may name must start with this. */
  readonly secretPrefix: string;
  readonly configCacheTtlMs: number;
  readonly secretCacheTtlMs: number;
  /** Must equal the queue's redrive maxReceiveCount. */
  readonly maxReceiveCount: number;
  /** No new delivery starts with less time left than this. */
  readonly minRemainingTimeMs: number;
  readonly batchConcurrency: number;
  /** PEM file of extra CAs to trust for relays (private relays, the local stand-ins). */
  readonly relayCaFile?: string | undefined;
  /**
   * The relay-state table (fleet-wide suspensions). Without it each sandbox keeps its own
   * suspensions in memory: failover and suspension still work, but only per sandbox.
   */
  readonly relayStateTableName?: string | undefined;
  /** First suspension of a relay that refuses sessions; doubles up to the max. @default 30 s, 900 s */
  readonly suspensionBaseMs: number;
  readonly suspensionMaxMs: number;
  /** How long one probe of a suspended relay may take before another sandbox may probe. @default 60 s */
  readonly suspensionProbeMs: number;
  /** How long a sandbox trusts what it read of a relay's state. @default 5 s */
  readonly relayStateCacheMs: number;
}

export class SettingsError extends Error {
  public constructor(message: string) {
    super(message);
    this.name = 'SettingsError';
  }
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * @example
 * const settings = readSettings(process.env);
 */
export function readSettings(env: Env): WorkerSettings {
  const problems: string[] = [];
  const required = (name: string): string => {
    const value = env[name]?.trim();
    if (!value) problems.push(`${name} is not set`);
    return value ?? '';
  };
  const number = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name]?.trim();
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < min || value > max) {
      problems.push(`${name} must be a number from ${min} to ${max} (got "${raw}")`);
      return fallback;
    }
    return value;
  };
  const settings: WorkerSettings = {
    configTableName: required('CONFIG_TABLE_NAME'),
    idempotencyTableName: required('IDEMPOTENCY_TABLE_NAME'),
    deadLetterQueueUrl: required('DEAD_LETTER_QUEUE_URL'),
    queueUrl: env['QUEUE_URL']?.trim() || undefined,
    secretPrefix: env['SECRET_PREFIX'] ?? 'mailrelay/',
    configCacheTtlMs: number('CONFIG_CACHE_TTL_SECONDS', 60, 0, 86_400) * 1000,
    secretCacheTtlMs: number('SECRET_CACHE_TTL_SECONDS', 300, 0, 86_400) * 1000,
    maxReceiveCount: number('MAX_RECEIVE_COUNT', 5, 1, 1000),
    minRemainingTimeMs: number('MIN_REMAINING_TIME_MS', 10_000, 0, 900_000),
    batchConcurrency: number('BATCH_CONCURRENCY', 10, 1, 100),
    relayCaFile: env['RELAY_CA_FILE']?.trim() || undefined,
    relayStateTableName: env['RELAY_STATE_TABLE_NAME']?.trim() || undefined,
    // Fractions of a second are allowed so tests can compress the clock.
    suspensionBaseMs: number('ROUTE_SUSPENSION_SECONDS', 30, 0.001, 3_600) * 1000,
    suspensionMaxMs: number('ROUTE_SUSPENSION_MAX_SECONDS', 900, 0.001, 43_200) * 1000,
    suspensionProbeMs: number('ROUTE_PROBE_SECONDS', 60, 0.001, 900) * 1000,
    relayStateCacheMs: number('RELAY_STATE_CACHE_SECONDS', 5, 0, 300) * 1000,
  };
  if (settings.suspensionMaxMs < settings.suspensionBaseMs) problems.push('ROUTE_SUSPENSION_MAX_SECONDS must be at least ROUTE_SUSPENSION_SECONDS');
  if (problems.length) throw new SettingsError(`mailrelay worker settings: ${problems.join('; ')}`);
  return settings;
}
