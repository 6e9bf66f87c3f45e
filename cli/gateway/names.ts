/**
 * Names the gateway and the CDK stack must agree on, defined once (as lambda/core/names.ts is for
 * the worker): the environment variables the container gets, the metric the service scales on,
 * the log event names the alarms count, the health check path. Nothing here imports anything.
 */

/** Environment variables `mailrelay gateway` reads when the matching flag is absent. */
export const GATEWAY_ENV = {
  host: 'MAILRELAY_GATEWAY_HOST',
  port: 'MAILRELAY_GATEWAY_PORT',
  tlsPort: 'MAILRELAY_GATEWAY_TLS_PORT',
  healthPort: 'MAILRELAY_GATEWAY_HEALTH_PORT',
  tlsCert: 'MAILRELAY_GATEWAY_TLS_CERT',
  tlsKey: 'MAILRELAY_GATEWAY_TLS_KEY',
  name: 'MAILRELAY_GATEWAY_NAME',
  /** When set, the open connections are written once a minute as an EMF metric in this namespace. */
  metricsNamespace: 'MAILRELAY_GATEWAY_METRICS_NAMESPACE',
} as const;

/** The EMF metric of open SMTP connections per task (connectionMetric.ts), and its dimension. */
export const ACTIVE_CONNECTIONS_METRIC = 'ActiveConnections';
export const GATEWAY_METRICS_DIMENSION = 'Service';
export const GATEWAY_METRICS_SERVICE = 'mailrelay-gateway';

/** The `event` field of the log lines the stack's metric filters count (ports.ts lists them all). */
export const GATEWAY_EVENT = { authFailed: 'auth-failed', authLockedOut: 'auth-locked-out' } as const;

/**
 * The SMTP ports inside the stack's container (and the Dockerfile's): unprivileged, so the gateway
 * runs as a non-root user; the load balancer listens on 587 and 465 and forwards to these.
 */
export const CONTAINER_SUBMISSION_PORT = 2587;
export const CONTAINER_IMPLICIT_TLS_PORT = 2465;

/** `GET` path of the health endpoint. */
export const HEALTH_PATH = '/health';
