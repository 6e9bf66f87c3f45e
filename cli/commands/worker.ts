/**
 * `mailrelay worker`: the Lambda handler, unchanged, consuming an SQS queue from a container or a
 * server, the way Lambda's event source mapping would (partial batch responses, visibility
 * timeouts, the queue's redrive policy). Settings come from the environment, as in Lambda.
 */
import { SQSClient } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { pollForever } from '../../lambda/adapters/sqsPoller.js';
import { WORKER_ENV } from '../../lambda/core/names.js';
import { readSettings, SettingsError } from '../../lambda/worker/settings.js';
import { integerOption } from '../args.js';
import type { CommandRun } from '../command.js';
import { str } from '../command.js';
import { CliError, EXIT_USAGE, UsageError } from '../errors.js';
import { lambdaContext } from '../lambdaContext.js';
import { formatLoggerOutput } from '../output/workerLog.js';
import { ENV } from '../target.js';

export const run: CommandRun = async ({ values }, ctx) => {
  const cmd = 'worker';
  if (values.local) throw new UsageError('npm start already runs a worker against the local stand-ins; worker is for real SQS queues', cmd);
  const queueUrl = values['queue-url'] ?? ctx.env[ENV.queueUrl]?.trim() ?? ctx.env[WORKER_ENV.queueUrl]?.trim();
  if (!queueUrl) throw new UsageError(`no queue: pass --queue-url or set ${ENV.queueUrl}`, cmd);
  const batchSize = integerOption(cmd, 'batch-size', str(values['batch-size']), 10, 1, 10);
  const timeoutSeconds = integerOption(cmd, 'timeout', str(values['timeout']), 60, 5, 900);
  const waitSeconds = integerOption(cmd, 'wait-time', str(values['wait-time']), 10, 0, 20);

  process.env['QUEUE_URL'] ??= queueUrl;
  if (values.region) process.env['AWS_REGION'] = values.region;
  try {
    readSettings(process.env);
  } catch (error) {
    if (error instanceof SettingsError) throw new CliError(error.message, EXIT_USAGE, { cause: error });
    throw error;
  }
  // Metrics go to stdout as EMF documents for CloudWatch; a person reading --pretty does not want them.
  if (values.pretty) process.env['POWERTOOLS_METRICS_DISABLED'] ??= 'true';
  // Lambda sets it; Powertools reports cold_start (and the ColdStart metric) only when it is 'on-demand'
  process.env['AWS_LAMBDA_INITIALIZATION_TYPE'] ??= 'on-demand';
  const { handler, logger } = await import('../../lambda/handlers/relay.js');
  const output = values.pretty ? formatLoggerOutput(logger, ctx.io.out) : undefined;

  const client = new SQSClient(values.region ? { region: values.region } : {});
  // A receive is never aborted: SQS may already have handed its messages out, and they would stay
  // invisible for a visibility timeout. The poll in flight ends on its own (at most --wait-time).
  ctx.signal.addEventListener('abort', () => ctx.io.err(`mailrelay worker: stopping after the current poll (at most ${waitSeconds} s; Ctrl-C again to quit now)`), { once: true });
  ctx.io.err(`mailrelay worker: polling ${queueUrl} (Ctrl-C to stop)`);
  const invoke = (event: SQSEvent, context: { getRemainingTimeInMillis(): number }) => handler(event, lambdaContext(context.getRemainingTimeInMillis, 'mailrelay-worker'));
  try {
    await pollForever(invoke, {
      client,
      queueUrl,
      batchSize,
      waitTimeSeconds: waitSeconds,
      invocationTimeoutMs: timeoutSeconds * 1000,
      signal: ctx.signal,
      onError: (error) => ctx.io.err(`poll failed: ${error instanceof Error ? error.message : String(error)} (retrying in 1 s)`),
      onBatch: (r) => {
        if (values.pretty) ctx.io.out(`[poller] batch of ${r.received}: ${r.deleted} done, ${r.failed} left for retry`);
      },
    });
  } finally {
    output?.restore();
    client.destroy();
  }
  ctx.io.err('mailrelay worker: stopped');
  return 0;
};
