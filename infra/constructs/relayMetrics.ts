import { Duration } from 'aws-cdk-lib';
import { Metric, Stats } from 'aws-cdk-lib/aws-cloudwatch';
import { RELAY_METRIC } from '../constants.js';

/** Props of {@link RelayMetrics}. */
export interface RelayMetricsProps {
  /** `POWERTOOLS_METRICS_NAMESPACE` of the worker. */
  readonly namespace: string;
  /** `POWERTOOLS_SERVICE_NAME` of the worker: the `service` dimension. */
  readonly serviceName: string;
  /**
   * Period of every metric.
   * @default Duration.minutes(5)
   */
  readonly period?: Duration;
}

/**
 * The metrics the worker emits in embedded metric format (Powertools
 * Metrics: namespace from `POWERTOOLS_METRICS_NAMESPACE`, dimension
 * `service`), for alarms and the dashboard.
 */
export class RelayMetrics {
  private readonly namespace: string;
  private readonly serviceName: string;
  private readonly period: Duration;

  public constructor(props: RelayMetricsProps) {
    this.namespace = props.namespace;
    this.serviceName = props.serviceName;
    this.period = props.period ?? Duration.minutes(5);
  }

  /** Messages the relay accepted (250). */
  public delivered(): Metric {
    return this.count(RELAY_METRIC.delivered);
  }

  /** Transient failures: the message will be retried. */
  public deferred(): Metric {
    return this.count(RELAY_METRIC.deferred);
  }

  /** Permanent failures: the message went to the dead-letter queue. */
  public failed(): Metric {
    return this.count(RELAY_METRIC.failed);
  }

  /** Relays that rejected the credentials (after one forced refresh). */
  public authFailed(): Metric {
    return this.count(RELAY_METRIC.authFailed);
  }

  /** Messages dead-lettered (permanent failures, expiry, exhausted receives). */
  public deadLettered(): Metric {
    return this.count(RELAY_METRIC.deadLettered);
  }

  /** Copies acknowledged without sending (already delivered or dead-lettered). */
  public duplicate(): Metric {
    return this.count(RELAY_METRIC.duplicate);
  }

  /** Messages not delivered within `delivery.maxAgeSeconds`. */
  public expired(): Metric {
    return this.count(RELAY_METRIC.expired);
  }

  /** Relay suspensions started for the fleet (a relay refused sessions). */
  public routeSuspended(): Metric {
    return this.count(RELAY_METRIC.routeSuspended);
  }

  /** Sessions a relay refused that went to the route's next relay. */
  public routeFailover(): Metric {
    return this.count(RELAY_METRIC.routeFailover);
  }

  /** Time to relay one message, in milliseconds. */
  public deliveryDuration(statistic: string): Metric {
    return this.metric(RELAY_METRIC.deliveryDuration, statistic, `${RELAY_METRIC.deliveryDuration} ${statistic}`);
  }

  private count(name: string): Metric {
    // No label: a labelled metric renders as metric math in an alarm, and the name is label enough.
    return this.metric(name, Stats.SUM);
  }

  private metric(metricName: string, statistic: string, label?: string): Metric {
    return new Metric({
      namespace: this.namespace,
      metricName,
      dimensionsMap: { service: this.serviceName },
      statistic,
      period: this.period,
      ...(label === undefined ? {} : { label }),
    });
  }
}
