/**
 * What an operator reads about a record: one log line per recipient disposition, the metrics
 * derived from the same dispositions, and one line per relay notice (a suspension starts, a
 * relay recovers, a route fails over). Delivery events (lambda/worker/events.ts) are made from
 * the same dispositions, here: one producer of outcomes.
 */
import type { RelayNotice } from '../core/failover.js';
import { AUTH_FAILURE_REASONS, type FailureReason } from '../core/errors.js';
import type { Disposition } from './disposition.js';
import type { EventBatch } from './events.js';
import type { WorkerLogger, WorkerMetrics } from './types.js';

interface Reporter {
  readonly logger: WorkerLogger;
  readonly metrics: WorkerMetrics;
  /** The batch's delivery events; absent when no event bus is configured. */
  readonly eventBatch?: EventBatch | undefined;
}

/** The log line's message per status (the names docs/fault-handling.md's tables use). */
const MESSAGES: Readonly<Record<Disposition['status'], string>> = {
  delivered: 'relayed',
  deferred: 'deferred',
  bounced: 'rejected',
  'dead-lettered': 'rejected',
  expired: 'expired',
  duplicate: 'duplicate recipient',
};

export function recordDispositions(dispositions: readonly Disposition[], context: Record<string, unknown>, reporter: Reporter): void {
  reporter.eventBatch?.add(dispositions, context);
  if (dispositions.some((d) => d.status === 'delivered')) reporter.metrics.addMetric('Delivered', 'Count', 1);
  if (dispositions.some((d) => d.reason !== undefined && AUTH_FAILURE_REASONS.has(d.reason as FailureReason))) reporter.metrics.addMetric('AuthFailed', 'Count', 1);
  for (const d of dispositions) {
    if (d.status === 'duplicate') continue; // the record's own `duplicate` line says it once
    const outcome = d.status === 'bounced' || d.status === 'dead-lettered' ? 'failed' : d.status;
    const line = {
      ...context,
      recipient: d.recipient,
      outcome,
      // Only where it refines the outcome (failed: bounced or dead-lettered): a line is billed by the byte.
      ...(d.status !== outcome ? { disposition: d.status } : {}),
      route: d.route,
      mechanism: d.mechanism,
      ...(d.authKey ? { authKey: d.authKey } : {}),
      smtpCode: d.smtpCode,
      reason: d.reason,
      detail: d.detail,
      smtpReply: d.smtpReply,
    };
    if (d.status === 'delivered') reporter.logger.info(MESSAGES[d.status], line);
    else reporter.logger.warn(MESSAGES[d.status], line);
  }
}

export function logNotices(notices: readonly RelayNotice[], context: Record<string, unknown>, reporter: Reporter): void {
  for (const notice of notices) {
    switch (notice.kind) {
      case 'suspended': {
        // Logged by the one sandbox whose write started the suspension: once per suspension.
        const { suspension } = notice;
        reporter.metrics.addMetric('RouteSuspended', 'Count', 1);
        reporter.logger.warn('relay suspended for the fleet', {
          ...context,
          relay: notice.relay,
          reason: suspension.reason,
          detail: suspension.detail,
          suspendedUntil: new Date(suspension.until).toISOString(),
          suspensionSeconds: Math.round(suspension.intervalMs / 1000),
          suspendedSince: new Date(suspension.since).toISOString(),
        });
        break;
      }
      case 'recovered':
        reporter.logger.info('relay recovered: probe delivered, suspension lifted', { ...context, relay: notice.relay });
        break;
      case 'failover':
        reporter.metrics.addMetric('RouteFailover', 'Count', 1);
        reporter.logger.warn('relay refused the session; trying the next relay', { ...context, relay: notice.relay, nextRelay: notice.next, reason: notice.reason });
        break;
      case 'state-unavailable':
        reporter.logger.error('relay state table unavailable; delivering without fleet suspension', { ...context, relay: notice.relay, detail: notice.detail });
        break;
      case 'throttled':
        reporter.metrics.addMetric('RelayThrottled', 'Count', 1);
        reporter.logger.warn('relay throttled us: its rate and connections are lowered for a while', { ...context, relay: notice.relay, throttleLevel: notice.level });
        break;
      case 'limited':
        reporter.metrics.addMetric(notice.reason === 'connection-limit' ? 'ConnectionLimited' : 'RateLimited', 'Count', 1);
        reporter.logger.info('relay at its fleet-wide limit; deferred', { ...context, relay: notice.relay, reason: notice.reason, retryAfterSeconds: notice.retryAfterSeconds });
        break;
    }
  }
}
