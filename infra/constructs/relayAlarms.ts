import { Duration } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, Stats, TreatMissingData, type IMetric } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Topic, type ITopic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { RelayMetrics } from './relayMetrics.js';

const ALARM_PERIOD = Duration.minutes(5);

/** Props of {@link RelayAlarms}. */
export interface RelayAlarmsProps {
  /** The queue producers send to. */
  readonly queue: IQueue;
  /** Its dead-letter queue. */
  readonly deadLetterQueue: IQueue;
  /** The worker. */
  readonly function: IFunction;
  /** The worker's own metrics. */
  readonly metrics: RelayMetrics;
  /** Alarm when the oldest message on the queue is older than this. */
  readonly oldestMessageAgeThreshold: Duration;
  /** Alarm when this many authentication failures happen within 5 minutes. */
  readonly authFailureThreshold: number;
  /**
   * Topic to notify on ALARM and on OK.
   * @default - a new topic when `email` is set, else no notification
   */
  readonly topic?: ITopic;
  /**
   * E-mail address to subscribe to the topic.
   * @default - none
   */
  readonly email?: string;
}

/**
 * The five alarms an operator of the worker needs. Each description says
 * what happened and what to do (docs/deploy.md has the long version).
 */
export class RelayAlarms extends Construct {
  /** A message failed permanently or ran out of retries: someone must look at it. */
  public readonly deadLetterQueueNotEmpty: Alarm;
  /** The queue is not being drained: backlog, retries piling up, or the function is down. */
  public readonly oldestMessageTooOld: Alarm;
  /** The function itself failed (crash, timeout, out of memory), not a delivery. */
  public readonly functionErrors: Alarm;
  /** Lambda refused invocations for lack of concurrency. */
  public readonly functionThrottles: Alarm;
  /** A relay rejected the credentials, even after a forced refresh. */
  public readonly authFailures: Alarm;
  /** The topic the alarms notify, when there is one. */
  public readonly topic?: ITopic;

  public constructor(scope: Construct, id: string, props: RelayAlarmsProps) {
    super(scope, id);

    this.deadLetterQueueNotEmpty = this.alarm('DeadLetterQueueNotEmpty', {
      metric: props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: ALARM_PERIOD, statistic: Stats.MAXIMUM }),
      threshold: 1,
      description:
        'mailrelay: messages are waiting in the dead-letter queue. Read their reason attributes (the mailrelay dlq commands), ' +
        'fix the config, secret or message, then redrive them (mailrelay dlq redrive). The DLQ keeps them 14 days.',
    });
    this.oldestMessageTooOld = this.alarm('OldestMessageTooOld', {
      metric: props.queue.metricApproximateAgeOfOldestMessage({ period: ALARM_PERIOD, statistic: Stats.MAXIMUM }),
      threshold: props.oldestMessageAgeThreshold.toSeconds(),
      description:
        `mailrelay: a message has waited on the queue for more than ${props.oldestMessageAgeThreshold.toHumanString()}. ` +
        'Look for Deferred deliveries (relay down, 4xx, auth failures), function errors or throttles, or a burst ' +
        'above what maxConcurrency drains.',
    });
    this.functionErrors = this.alarm('FunctionErrors', {
      metric: props.function.metricErrors({ period: ALARM_PERIOD, statistic: Stats.SUM }),
      threshold: 1,
      description:
        'mailrelay: the function failed a whole invocation (crash, timeout or out of memory), so its batch is retried. ' +
        'Read the function log; raise functionTimeout or memorySize if it ran out of either.',
    });
    this.functionThrottles = this.alarm('FunctionThrottles', {
      metric: props.function.metricThrottles({ period: ALARM_PERIOD, statistic: Stats.SUM }),
      threshold: 1,
      description:
        'mailrelay: Lambda throttled the function: the account or its reserved concurrency is exhausted. ' +
        'Messages wait on the queue; check the account concurrency quota and other functions using it.',
    });
    this.authFailures = this.alarm('AuthFailures', {
      metric: props.metrics.authFailed(),
      threshold: props.authFailureThreshold,
      description:
        'mailrelay: a relay rejected the credentials even after a forced refresh of the secret. The messages are deferred, ' +
        'not lost. Check the secret (rotated? expired OAuth consent?) and the config item named in the log.',
    });

    const topic = props.topic ?? (props.email === undefined ? undefined : this.createTopic());
    if (topic) {
      if (props.email !== undefined) topic.addSubscription(new EmailSubscription(props.email));
      const action = new SnsAction(topic);
      for (const alarm of this.all) {
        alarm.addAlarmAction(action);
        alarm.addOkAction(action);
      }
      this.topic = topic;
    }
  }

  /** All alarms, in the order of the dashboard. */
  public get all(): Alarm[] {
    return [this.deadLetterQueueNotEmpty, this.oldestMessageTooOld, this.functionErrors, this.functionThrottles, this.authFailures];
  }

  private alarm(id: string, options: { metric: IMetric; threshold: number; description: string }): Alarm {
    return new Alarm(this, id, {
      metric: options.metric,
      threshold: options.threshold,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      // No data means no messages, no errors, no failures.
      treatMissingData: TreatMissingData.NOT_BREACHING,
      alarmDescription: options.description,
    });
  }

  private createTopic(): Topic {
    return new Topic(this, 'Topic', { displayName: 'mailrelay alarms', enforceSSL: true });
  }
}
