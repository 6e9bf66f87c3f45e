/**
 * The real relay handler (lambda/handlers/relay.ts: middy, Powertools, the worker) as the Lambda
 * runtime calls it. Import it only after the test has set the worker's environment (the handler
 * reads it once, at import): call this in `beforeAll`, after `startLocalWorld`.
 */
import type { SQSEvent } from 'aws-lambda';

type BatchResult = { batchItemFailures: { itemIdentifier: string }[] };

/** A handler for `pollOnce` (or a direct call): the caller's context plus the Lambda context fields the handler reads. */
export async function loadRelayHandler(memoryLimitInMB = '512'): Promise<(event: SQSEvent, context: { getRemainingTimeInMillis(): number }) => Promise<BatchResult>> {
  const module = await import('../../lambda/handlers/relay.js');
  const lambda = module.handler as unknown as (event: SQSEvent, context: unknown) => Promise<BatchResult>;
  return (event, context) =>
    lambda(event, {
      ...context,
      functionName: 'mailrelay-test',
      functionVersion: '$LATEST',
      invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:mailrelay-test',
      memoryLimitInMB,
      awsRequestId: `req-${Date.now()}`,
      logGroupName: '/aws/lambda/mailrelay-test',
      logStreamName: 'local',
      callbackWaitsForEmptyEventLoop: false,
    });
}
