/** A Lambda context for running the handler outside Lambda (npm start, `mailrelay worker`). */
import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';

/**
 * What the handler's middlewares read from a context: names for the log records, a request id,
 * and the remaining time of this "invocation".
 * @param functionName  @default 'mailrelay-local'
 */
export function lambdaContext(remaining: () => number, functionName = 'mailrelay-local', region = process.env['AWS_REGION'] ?? 'us-east-1'): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:000000000000:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: remaining,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
