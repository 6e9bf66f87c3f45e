/**
 * The worker's log line keeps what an operator needs and drops what repeats on every line of the
 * function's log group (lambda/handlers/logFormatter.ts).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RelayLogFormatter } from '../../../lambda/handlers/logFormatter.js';

const CONTEXT = {
  functionName: 'mailrelay-prod-worker',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:mailrelay-prod-worker',
  memoryLimitInMB: '512',
  awsRequestId: 'c6af9ac6-7b61-11e6-9a41-93e812345678',
  logGroupName: '/aws/lambda/mailrelay-prod-worker',
  logStreamName: '2026/12/04/[$LATEST]abc',
  callbackWaitsForEmptyEventLoop: false,
  getRemainingTimeInMillis: () => 60_000,
  done: () => undefined,
  fail: () => undefined,
  succeed: () => undefined,
} as Context;

/** Every JSON line the logger writes while `act` runs. */
function captured(act: (logger: Logger) => void): Record<string, unknown>[] {
  const lines: string[] = [];
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(chunk.toString());
    return true;
  });
  try {
    const logger = new Logger({ serviceName: 'mailrelay', logFormatter: new RelayLogFormatter() });
    act(logger);
  } finally {
    write.mockRestore();
  }
  return lines.join('').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
}

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('RelayLogFormatter', () => {
  it('keeps level, message, timestamp, service, the request id and the line\'s fields; drops what the log group already says', () => {
    // Act
    const [line] = captured((logger) => {
      logger.addContext(CONTEXT);
      logger.info('relayed', { sqsMessageId: 'm-1', recipient: 'bob@example.net', outcome: 'delivered', smtpCode: 250 });
    });

    // Assess
    expect(line).toEqual({
      level: 'INFO',
      message: 'relayed',
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      service: 'mailrelay',
      function_request_id: CONTEXT.awsRequestId,
      sqsMessageId: 'm-1',
      recipient: 'bob@example.net',
      outcome: 'delivered',
      smtpCode: 250,
    });
  });

  it('prints cold_start only on a cold start, and the X-Ray trace id when Lambda sets one', () => {
    // Prepare: Powertools reports cold_start only for on-demand initialization.
    vi.stubEnv('AWS_LAMBDA_INITIALIZATION_TYPE', 'on-demand');
    vi.stubEnv('_X_AMZN_TRACE_ID', 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1');

    // Act
    const [first, second] = captured((logger) => {
      logger.addContext(CONTEXT);
      logger.info('relayed');
      logger.addContext(CONTEXT);
      logger.info('relayed');
    });

    // Assess
    expect(first).toMatchObject({ cold_start: true, xray_trace_id: '1-5759e988-bd862e3fe1be46a994272793' });
    expect(second).not.toHaveProperty('cold_start');
  });
});
