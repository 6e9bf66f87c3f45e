/**
 * The Lambda entry point: an SQS batch in, a partial batch response out. Thin by design: the
 * wiring happens once per cold start (createWorker), the work in processBatch.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context, SQSEvent } from 'aws-lambda';
import * as bundledAuthHook from '#auth-hook';
import type { AuthHookStats } from '../core/authHook/runner.js';
import type { AuthHookModule } from '../core/authHook/types.js';
import { createWorker, type Worker } from './createWorker.js';
import { RelayLogFormatter } from './logFormatter.js';
import { processBatch, type BatchResult } from '../worker/processBatch.js';
import { readSettings } from '../worker/settings.js';
import { DEFAULT_METRICS_NAMESPACE, DEFAULT_SERVICE_NAME, WORKER_ENV } from '../core/names.js';

const serviceName = process.env[WORKER_ENV.serviceName] ?? DEFAULT_SERVICE_NAME;
export const logger = new Logger({ serviceName, logFormatter: new RelayLogFormatter() });
export const metrics = new Metrics({ namespace: process.env[WORKER_ENV.metricsNamespace] ?? DEFAULT_METRICS_NAMESPACE, serviceName });

let worker: Worker | undefined;
/** The bundled hook (the stack aliases `#auth-hook` to `authHook.entry`), or one set by useAuthHook. */
let authHook: AuthHookModule = bundledAuthHook;

/**
 * Use this module as the auth hook instead of the bundled one (`npm start -- --auth-hook FILE`,
 * `mailrelay worker --auth-hook FILE`). Must be called before the first batch.
 */
export function useAuthHook(module: AuthHookModule): void {
  if (worker) throw new Error('useAuthHook must be called before the first batch');
  authHook = module;
}

/**
 * The auth hook's counters and recent call times in this sandbox (no credentials), for the bench
 * and the local run; undefined before the first batch.
 */
export function authHookStats(): AuthHookStats | undefined {
  return worker?.authHook?.stats();
}

/** Built on first use rather than at import, so a settings error is logged with the invocation. */
function getWorker(): Worker {
  worker ??= createWorker({
    settings: readSettings(process.env),
    authHook,
    logger,
    metrics: { addMetric: (name, unit, value) => metrics.addMetric(name, unit === 'Count' ? MetricUnit.Count : MetricUnit.Milliseconds, value) },
  });
  return worker;
}

/** Headroom on the idempotency claim beyond the invocation's own deadline. */
const CLAIM_LEASE_MARGIN_MS = 60_000;

export async function relayBatch(event: SQSEvent, context: Pick<Context, 'getRemainingTimeInMillis'>): Promise<BatchResult> {
  const w = getWorker();
  const enoughTime = (): boolean => context.getRemainingTimeInMillis() >= w.settings.minRemainingTimeMs;
  const deps = { ...w, claimLeaseMs: context.getRemainingTimeInMillis() + CLAIM_LEASE_MARGIN_MS, mayStartDelivery: enoughTime };
  return processBatch(event.Records, deps, {
    remainingTimeMs: () => context.getRemainingTimeInMillis(),
    minRemainingMs: w.settings.minRemainingTimeMs,
    concurrency: w.settings.batchConcurrency,
  });
}

export const handler = middy(relayBatch)
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics, { captureColdStartMetric: true }));
