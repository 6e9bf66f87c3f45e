/**
 * `mailrelay queue`: Postfix's `mailq` for the relay. Depth, in flight and delayed from the queue's
 * attributes; the age of its oldest message from the CloudWatch metric SQS publishes for it
 * (reading the queue itself would count as a receive, and the worker dead-letters a message on its
 * last receive); the DLQ's depth, and its oldest entry from the entries themselves (received with
 * a short visibility and released at once, as `dlq list` does).
 */
import type { CommandRun } from '../command.js';
import { receiveDeadLetters, release } from '../dlq/deadLetters.js';
import { queueCounts } from '../queueCounts.js';
import { age, printJson } from '../io.js';

export interface QueueReport {
  readonly queueUrl: string;
  /** Visible: waiting for the worker (ApproximateNumberOfMessages). */
  readonly depth: number;
  /** Received and not yet deleted: being delivered, or waiting for a retry's visibility timeout. */
  readonly inFlight: number;
  /** Sent with a delay (a retry scheduled by the worker) and not visible yet. */
  readonly delayed: number;
  /** Seconds; null where CloudWatch is not reachable (npm start) or has no datapoint yet. */
  readonly oldestAgeSeconds: number | null;
  readonly oldestAgeSource: string;
  readonly dlqUrl: string;
  readonly dlqDepth: number;
  readonly dlqOldestAgeSeconds: number | null;
}

/** How far back the oldest-message metric is read (SQS publishes it every minute). */
const METRIC_WINDOW_MS = 10 * 60_000;

export const run: CommandRun = async (_parsed, ctx) => {
  const target = ctx.target();
  const queueUrl = target.queueUrl();
  const dlqUrl = target.dlqUrl();
  const sqs = await target.sqs();
  const [main, dlq] = await Promise.all([queueCounts(sqs, queueUrl), queueCounts(sqs, dlqUrl)]);

  let oldestAgeSeconds: number | null = null;
  let oldestAgeSource = 'CloudWatch AWS/SQS ApproximateAgeOfOldestMessage';
  if (target.kind === 'local') {
    oldestAgeSource = 'not available: the stand-ins of npm start have no CloudWatch';
  } else {
    oldestAgeSeconds = await oldestAge(await target.cloudWatch(), queueName(queueUrl));
    if (oldestAgeSeconds === null) oldestAgeSource += ' (no datapoint in the last 10 minutes)';
  }
  const letters = dlq.visible > 0 ? await receiveDeadLetters(sqs, dlqUrl, { max: 1_000, visibilitySeconds: 10 }) : [];
  await release(sqs, dlqUrl, letters);
  const sentTimes = letters.map((l) => (l.failedAt ? Date.parse(l.failedAt) : l.sentAt)).filter((t): t is number => t !== undefined && Number.isFinite(t));
  const dlqOldest = sentTimes.length ? Math.min(...sentTimes) : undefined;

  const report: QueueReport = {
    queueUrl,
    depth: main.visible,
    inFlight: main.notVisible,
    delayed: main.delayed,
    oldestAgeSeconds,
    oldestAgeSource,
    dlqUrl,
    dlqDepth: dlq.visible + dlq.notVisible + dlq.delayed,
    dlqOldestAgeSeconds: dlqOldest === undefined ? null : Math.max(0, Math.round((Date.now() - dlqOldest) / 1000)),
  };
  if (ctx.json) {
    printJson(ctx.io, report);
    return 0;
  }
  const seconds = (s: number | null): string => (s === null ? '-' : age(Date.now() - s * 1000));
  ctx.io.out(`queue      ${queueUrl}`);
  ctx.io.out(`  waiting    ${report.depth}`);
  ctx.io.out(`  in flight  ${report.inFlight}   (being delivered, or waiting out a retry's visibility timeout)`);
  ctx.io.out(`  delayed    ${report.delayed}   (retries scheduled with a delay)`);
  ctx.io.out(`  oldest     ${seconds(report.oldestAgeSeconds)}   (${report.oldestAgeSource})`);
  ctx.io.out(`dead-letter queue  ${dlqUrl}`);
  ctx.io.out(`  entries    ${report.dlqDepth}${report.dlqDepth ? '   (mailrelay dlq list)' : ''}`);
  ctx.io.out(`  oldest     ${seconds(report.dlqOldestAgeSeconds)}`);
  return 0;
};

/** `https://sqs.eu-west-1.amazonaws.com/123456789012/mailrelay-Queue` → `mailrelay-Queue`. */
export function queueName(url: string): string {
  return url.replace(/\/+$/, '').split('/').pop() ?? url;
}

/** The latest maximum of ApproximateAgeOfOldestMessage, in seconds; null without a datapoint. */
export async function oldestAge(cloudWatch: { send(command: unknown): Promise<unknown> }, name: string, now = Date.now()): Promise<number | null> {
  const { GetMetricDataCommand } = await import('@aws-sdk/client-cloudwatch');
  const out = (await cloudWatch.send(
    new GetMetricDataCommand({
      StartTime: new Date(now - METRIC_WINDOW_MS),
      EndTime: new Date(now),
      ScanBy: 'TimestampDescending',
      MetricDataQueries: [
        {
          Id: 'oldest',
          MetricStat: { Metric: { Namespace: 'AWS/SQS', MetricName: 'ApproximateAgeOfOldestMessage', Dimensions: [{ Name: 'QueueName', Value: name }] }, Period: 60, Stat: 'Maximum' },
        },
      ],
    }),
  )) as { MetricDataResults?: { Values?: number[] }[] };
  const latest = out.MetricDataResults?.[0]?.Values?.[0];
  return latest === undefined ? null : latest;
}
