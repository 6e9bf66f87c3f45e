/**
 * Wires the worker to AWS once per cold start: SDK clients, the config and secret caches, the
 * SMTP pool. Everything here lives at module scope in the handler, so it survives warm
 * invocations. The SDK honours AWS_ENDPOINT_URL_<SERVICE>, so the same wiring runs against the
 * local emulators.
 */
import { readFileSync } from 'node:fs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3ClientConfig } from '@aws-sdk/client-s3';
import { EventBridgeClient, type EventBridgeClientConfig } from '@aws-sdk/client-eventbridge';
import type { LambdaClientConfig } from '@aws-sdk/client-lambda';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { AwsSecretSource } from '../adapters/awsSecretSource.js';
import { lazySend, once } from '../adapters/lazy.js';
import { AuthHookRunner } from '../core/authHook/runner.js';
import type { AuthHookInvoker, AuthHookModule } from '../core/authHook/types.js';
import { TransientDeliveryError } from '../core/errors.js';
import type { PayloadStore } from '../core/ports.js';
import { DynamoConfigStore } from '../adapters/dynamoConfigStore.js';
import { DynamoIdempotencyStore } from '../adapters/dynamoIdempotencyStore.js';
import { DynamoRelayLimiter } from '../adapters/dynamoRelayLimiter.js';
import { DynamoRouteHealth } from '../adapters/dynamoRouteHealth.js';
import { EventBridgePublisher } from '../adapters/eventBridgePublisher.js';
import { SqsDeadLetterQueue } from '../adapters/sqsDeadLetterQueue.js';
import { SqsRetryScheduler } from '../adapters/sqsRetryScheduler.js';
import { resolveKeysource } from '../core/keysources.js';
import { createOAuth2TokenProvider } from '../core/oauth/index.js';
import { DEFAULT_LIMITER_POLICY, MemoryRelayLimiter } from '../core/relayLimiter.js';
import { RelayLimits } from '../core/relayLimits.js';
import { MemoryRouteHealth } from '../core/routeHealth.js';
import { SmtpPool } from '../core/smtp/pool.js';
import { PayloadBudget } from '../worker/payloadBudget.js';
import type { WorkerDependencies } from '../worker/processRecord.js';
import type { WorkerSettings } from '../worker/settings.js';
import type { WorkerLogger, WorkerMetrics } from '../worker/types.js';

/** SDK client config shared by every client; tests and the local runner pass endpoints/credentials. */
export type AwsClientConfig = ConstructorParameters<typeof SQSClient>[0];

export interface CreateWorkerOptions {
  readonly settings: WorkerSettings;
  readonly logger: WorkerLogger;
  readonly metrics: WorkerMetrics;
  readonly clientConfig?: AwsClientConfig;
  /** The bundled auth hook module (`authHook.entry`, `--auth-hook FILE`). */
  readonly authHook?: AuthHookModule | undefined;
}

export type Worker = Omit<WorkerDependencies, 'claimLeaseMs'> & { readonly settings: WorkerSettings };

/**
 * The low-level clients' config: `cacheMiddleware` resolves each command's middleware stack once
 * per sandbox instead of on every call (about a fifth of a call's client CPU, measured in
 * docs/performance.md). Never for the document client, whose commands bind their handler to the
 * first command's input (test/integration/worker.test.ts fails at once if it is); nor where
 * middleware is added after the first call (nothing here does). The cached handler also keeps one
 * handler context per command type, shared by concurrent calls: middleware writes the resolved
 * endpoint and signing identity there, which are the same for every call of a sandbox (one
 * region, one set of credentials, queue URLs of one account). A client whose calls differ in
 * those must not cache. A call given per-call options (an abort signal) skips the cache.
 */
function cached(clientConfig: AwsClientConfig): NonNullable<AwsClientConfig> {
  return { ...clientConfig, cacheMiddleware: true };
}

export function createWorker({ settings, logger, metrics, clientConfig = {}, authHook }: CreateWorkerOptions): Worker {
  const dynamo = DynamoDBDocumentClient.from(new DynamoDBClient(clientConfig), { marshallOptions: { removeUndefinedValues: true } });
  const sqs = new SQSClient(cached(clientConfig));
  const secrets = new AwsSecretSource({
    secretsManager: new SecretsManagerClient(cached(clientConfig)),
    // Loaded on first use (lambda/adapters/lazy.ts): only `parameter` keysources need it.
    ssm: lazySend<SSMClient>(async () => new (await import('../adapters/ssmParameters.js')).SSMClient(clientConfig)),
    prefix: settings.secretPrefix,
    cacheTtlMs: settings.secretCacheTtlMs,
    onInlineValue: (where) => logger.warn(`config uses ${where}: plaintext secrets in config are meant for local use`),
  });
  const policy = { baseMs: settings.suspensionBaseMs, maxMs: settings.suspensionMaxMs, probeMs: settings.suspensionProbeMs };
  // Fleet-wide limits on the relay-state table; without it, each sandbox keeps them for itself.
  const limiterPolicy = { ...DEFAULT_LIMITER_POLICY, leaseTtlMs: settings.connectionLeaseMs, recoveryStepMs: settings.throttleRecoveryMs };
  const limiter = settings.relayStateTableName
    ? new DynamoRelayLimiter({ client: dynamo, tableName: settings.relayStateTableName, policy: limiterPolicy })
    : new MemoryRelayLimiter(limiterPolicy);
  const limits = new RelayLimits(limiter, {
    maxWaitMs: settings.limitWaitMs,
    onStateError: (key, error) => logger.warn('relay limits unavailable: limits hold per sandbox only', { relay: key, detail: error.message }),
  });
  return {
    settings,
    logger,
    routeHealth: settings.relayStateTableName
      ? new DynamoRouteHealth({ client: dynamo, tableName: settings.relayStateTableName, policy, cacheTtlMs: settings.relayStateCacheMs })
      : new MemoryRouteHealth(policy),
    metrics,
    config: new DynamoConfigStore({ client: dynamo, tableName: settings.configTableName, cacheTtlMs: settings.configCacheTtlMs }),
    secrets,
    tokens: createOAuth2TokenProvider({ resolveSecret: async (ref, options) => (await resolveKeysource(ref, secrets, options)).secret }),
    pool: new SmtpPool({
      ca: settings.relayCaFile ? readFileSync(settings.relayCaFile) : undefined,
      limits,
      idleTimeoutMs: settings.sessionIdleMs,
      maxOpenSessions: settings.maxOpenSessions,
    }),
    idempotency: new DynamoIdempotencyStore({ client: dynamo, claimClient: new DynamoDBClient(cached(clientConfig)), tableName: settings.idempotencyTableName }),
    deadLetters: new SqsDeadLetterQueue({ client: sqs, queueUrl: settings.deadLetterQueueUrl }),
    retries: new SqsRetryScheduler({ client: sqs, queueUrl: settings.queueUrl }),
    maxReceiveCount: settings.maxReceiveCount,
    // Pointer bodies (docs/design.md §1). An endpoint override (AWS_ENDPOINT_URL_S3: the local
    // stand-in) is addressed path-style: `<endpoint>/<bucket>/<key>`, no bucket host names.
    payloads: settings.payloadBucketName
      ? {
          bucket: settings.payloadBucketName,
          store: lazyPayloadStore(clientConfig),
          // One per sandbox: the payload bytes held at once (docs/payloads.md "Memory").
          budget: new PayloadBudget(settings.payloadBudgetBytes),
        }
      : undefined,
    queueRetentionSeconds: settings.queueRetentionSeconds,
    events: settings.eventBusName ? new EventBridgePublisher({ client: new EventBridgeClient(cached(clientConfig) as EventBridgeClientConfig), eventBusName: settings.eventBusName }) : undefined,
    // Always there: a route may name `auth.hookFunction` in any scope. The Lambda client is built
    // only when a function hook is first invoked.
    authHook: new AuthHookRunner({
      module: authHook?.outboundSmtpAuthConfig,
      invoker: lazyInvoker(clientConfig),
      timeoutMs: settings.authHookTimeoutMs,
      cacheTtlMs: settings.authHookCacheTtlMs,
      cacheSize: settings.authHookCacheSize,
    }),
  };
}

/** The function hook's invoker, its Lambda client and module imported when a hook is first invoked. */
function lazyInvoker(clientConfig: AwsClientConfig): AuthHookInvoker {
  const invoker = once(async () => {
    const { LambdaAuthHookInvoker } = await import('../adapters/lambdaAuthHookInvoker.js');
    return LambdaAuthHookInvoker.create({ ...clientConfig } as LambdaClientConfig);
  });
  return { invoke: async (name, context, options) => (await invoker()).invoke(name, context, options) };
}

/** The S3 payload store, its client and module imported when the first pointer message arrives. */
function lazyPayloadStore(clientConfig: AwsClientConfig): PayloadStore {
  const store = once(async () => {
    let module;
    try {
      module = await import('../adapters/s3PayloadStore.js');
    } catch (error) {
      // A chunk that cannot load (a broken deployment, EMFILE) fails like an S3 call that cannot
      // be made: the record is retried with backoff and, at the end, dead-lettered with this reason.
      throw new TransientDeliveryError(`could not load the S3 client: ${error instanceof Error ? error.message : String(error)}`, { reason: 'aws-error' }, { cause: error });
    }
    return module.S3PayloadStore.create({ ...(clientConfig as S3ClientConfig), forcePathStyle: Boolean(process.env['AWS_ENDPOINT_URL_S3']) });
  });
  return {
    read: async (bucket, key, maxBytes) => (await store()).read(bucket, key, maxBytes),
    size: async (bucket, key) => (await store()).size(bucket, key),
    delete: async (bucket, key) => (await store()).delete(bucket, key),
  };
}
