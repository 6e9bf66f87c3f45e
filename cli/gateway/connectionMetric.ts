/**
 * Writes the gateway's open connections once a minute as a CloudWatch embedded metric format
 * (EMF) line on stdout: the container's log driver sends it to CloudWatch Logs, which extracts the
 * metric, and the service's autoscaling tracks its average across tasks (connections per task).
 */

import { ACTIVE_CONNECTIONS_METRIC, GATEWAY_METRICS_DIMENSION, GATEWAY_METRICS_SERVICE } from './names.js';

/** How often the metric is written. */
export const CONNECTION_METRIC_INTERVAL_MS = 60_000;

/** One EMF document with the connection count. */
export function connectionMetricLine(namespace: string, connections: number, now = Date.now()): string {
  return JSON.stringify({
    _aws: {
      Timestamp: now,
      CloudWatchMetrics: [{ Namespace: namespace, Dimensions: [[GATEWAY_METRICS_DIMENSION]], Metrics: [{ Name: ACTIVE_CONNECTIONS_METRIC, Unit: 'Count' }] }],
    },
    [GATEWAY_METRICS_DIMENSION]: GATEWAY_METRICS_SERVICE,
    [ACTIVE_CONNECTIONS_METRIC]: connections,
  });
}

/**
 * Start writing the metric every `intervalMs`; returns the function that stops it.
 * @example
 * const stop = startConnectionMetric('Mailrelay/Gateway', () => gateway.activeConnections(), (line) => console.log(line));
 */
export function startConnectionMetric(namespace: string, count: () => number, write: (line: string) => void, intervalMs = CONNECTION_METRIC_INTERVAL_MS): () => void {
  const timer = setInterval(() => write(connectionMetricLine(namespace, count())), intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
