/**
 * The worker's settings, read from the environment once per cold start. A missing or malformed
 * variable is an error that names it, raised at init so the deployment fails loudly.
 */
import { DEFAULT_SECRET_PREFIX, WORKER_ENV, type WorkerEnvVariable } from '../core/names.js';
import { secretPrefixProblem } from '../core/secretPrefix.js';
import { DEFAULT_FUNCTION_MEMORY_MB, payloadBudgetForMemory } from './payloadBudget.js';

export interface WorkerSettings {
  readonly configTableName: string;
  readonly idempotencyTableName: string;
  readonly deadLetterQueueUrl: string;
  /** The source queue, for ChangeMessageVisibility. Derived from the record's ARN when absent. */
  readonly queueUrl?: string | undefined;
  /** Secrets and parameters a keysource may name must start with this; it ends with `/` (lambda/core/secretPrefix.ts). */
  readonly secretPrefix: string;
  readonly configCacheTtlMs: number;
  readonly secretCacheTtlMs: number;
  /** Must equal the queue's redrive maxReceiveCount. */
  readonly maxReceiveCount: number;
  /** The queue's retention, when the stack says it: messages expire before SQS could drop them. */
  readonly queueRetentionSeconds?: number | undefined;
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
  /** The auth hook's per-call timeout. @default 2 s */
  readonly authHookTimeoutMs: number;
  /** How long a hook's answer is reused per (auth.key, route). @default 60 s */
  readonly authHookCacheTtlMs: number;
  /** Most answers kept (least recently used go first). @default 1000 */
  readonly authHookCacheSize: number;
  /** The payload bucket: pointer bodies naming it are read; without it every pointer is refused. */
  readonly payloadBucketName?: string | undefined;
  /**
   * S3 payload bytes the sandbox holds at once (lambda/worker/payloadBudget.ts): PAYLOAD_BUDGET_MIB,
   * else derived from AWS_LAMBDA_FUNCTION_MEMORY_SIZE (docs/payloads.md "Memory").
   */
  readonly payloadBudgetBytes: number;
  /** The longest a message waits for a relay's limit within an invocation. @default 2 s */
  readonly limitWaitMs: number;
  /** Connection leases lapse this long after their last renewal. @default 30 s */
  readonly connectionLeaseMs: number;
  /** A throttled relay gets one step back per this long without a throttle. @default 30 s */
  readonly throttleRecoveryMs: number;
  /** Idle SMTP sessions close after this long (and give their connection lease back). @default 10 s */
  readonly sessionIdleMs: number;
  /** Open SMTP sessions per sandbox. @default 32 */
  readonly maxOpenSessions: number;
  /** The EventBridge bus for delivery events (docs/design.md §3). Absent: no events are published. */
  readonly eventBusName?: string | undefined;
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
  const required = (name: WorkerEnvVariable): string => {
    const value = env[name]?.trim();
    if (!value) problems.push(`${name} is not set`);
    return value ?? '';
  };
  const number = (name: WorkerEnvVariable, fallback: number, min: number, max: number): number => {
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
    configTableName: required(WORKER_ENV.configTableName),
    idempotencyTableName: required(WORKER_ENV.idempotencyTableName),
    deadLetterQueueUrl: required(WORKER_ENV.deadLetterQueueUrl),
    queueUrl: env[WORKER_ENV.queueUrl]?.trim() || undefined,
    secretPrefix: secretPrefix(env[WORKER_ENV.secretPrefix] ?? DEFAULT_SECRET_PREFIX, problems),
    configCacheTtlMs: number(WORKER_ENV.configCacheTtlSeconds, 60, 0, 86_400) * 1000,
    secretCacheTtlMs: number(WORKER_ENV.secretCacheTtlSeconds, 300, 0, 86_400) * 1000,
    maxReceiveCount: number(WORKER_ENV.maxReceiveCount, 5, 1, 1000),
    minRemainingTimeMs: number(WORKER_ENV.minRemainingTimeMs, 10_000, 0, 900_000),
    batchConcurrency: number(WORKER_ENV.batchConcurrency, 10, 1, 100),
    relayCaFile: env[WORKER_ENV.relayCaFile]?.trim() || undefined,
    relayStateTableName: env[WORKER_ENV.relayStateTableName]?.trim() || undefined,
    queueRetentionSeconds: env[WORKER_ENV.queueRetentionSeconds]?.trim() ? number(WORKER_ENV.queueRetentionSeconds, 345_600, 60, 1_209_600) : undefined,
    // Fractions of a second are allowed so tests can compress the clock.
    suspensionBaseMs: number(WORKER_ENV.routeSuspensionSeconds, 30, 0.001, 3_600) * 1000,
    suspensionMaxMs: number(WORKER_ENV.routeSuspensionMaxSeconds, 900, 0.001, 43_200) * 1000,
    suspensionProbeMs: number(WORKER_ENV.routeProbeSeconds, 60, 0.001, 900) * 1000,
    relayStateCacheMs: number(WORKER_ENV.relayStateCacheSeconds, 5, 0, 300) * 1000,
    authHookTimeoutMs: number(WORKER_ENV.authHookTimeoutMs, 2_000, 1, 60_000),
    authHookCacheTtlMs: number(WORKER_ENV.authHookCacheTtlSeconds, 60, 0, 86_400) * 1000,
    authHookCacheSize: number(WORKER_ENV.authHookCacheSize, 1_000, 0, 1_000_000),
    payloadBucketName: env[WORKER_ENV.payloadBucketName]?.trim() || undefined,
    payloadBudgetBytes: env[WORKER_ENV.payloadBudgetMiB]?.trim()
      ? Math.round(number(WORKER_ENV.payloadBudgetMiB, 1, 1, 10_240) * 1_048_576)
      : payloadBudgetForMemory(number(WORKER_ENV.functionMemorySize, DEFAULT_FUNCTION_MEMORY_MB, 128, 10_240)),
    limitWaitMs: number(WORKER_ENV.limitWaitSeconds, 2, 0, 60) * 1000,
    connectionLeaseMs: number(WORKER_ENV.connectionLeaseSeconds, 30, 1, 900) * 1000,
    throttleRecoveryMs: number(WORKER_ENV.throttleRecoverySeconds, 30, 0.1, 3_600) * 1000,
    sessionIdleMs: number(WORKER_ENV.sessionIdleSeconds, 10, 0.05, 3_600) * 1000,
    maxOpenSessions: number(WORKER_ENV.maxOpenSessions, 32, 1, 1_000),
    eventBusName: env[WORKER_ENV.eventBusName]?.trim() || undefined,
  };
  if (settings.suspensionMaxMs < settings.suspensionBaseMs) problems.push(`${WORKER_ENV.routeSuspensionMaxSeconds} must be at least ${WORKER_ENV.routeSuspensionSeconds}`);
  if (problems.length) throw new SettingsError(`mailrelay worker settings: ${problems.join('; ')}`);
  return settings;
}

function secretPrefix(value: string, problems: string[]): string {
  const problem = secretPrefixProblem(value);
  if (problem) problems.push(`SECRET_PREFIX ${problem}`);
  return value;
}
