/**
 * Runs a batch handler against an SQS queue outside Lambda, the way Lambda's event source
 * mapping does: receive up to 10 messages (long polling), hand them over as a real SQSEvent,
 * delete the ones not reported in `batchItemFailures`, and leave the failed ones to come back
 * after their visibility timeout (or to the queue's redrive policy). Serves `npm start`,
 * `mailrelay worker --queue-url` and the integration tests.
 */
import { DeleteMessageBatchCommand, ReceiveMessageCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';
import type { SQSEvent, SQSRecord } from 'aws-lambda';

export interface BatchHandler {
  (event: SQSEvent, context: { getRemainingTimeInMillis(): number }): Promise<{ batchItemFailures: { itemIdentifier: string }[] } | void>;
}

export interface PollOptions {
  readonly client: Pick<SQSClient, 'send'>;
  readonly queueUrl: string;
  /** Used as eventSourceARN; derived from the URL when absent. */
  readonly queueArn?: string;
  /** @default 10 (the SQS maximum per receive) */
  readonly batchSize?: number;
  /** Long-poll wait. @default 20 */
  readonly waitTimeSeconds?: number;
  /** The time budget each batch gets, like a Lambda timeout. @default 60_000 */
  readonly invocationTimeoutMs?: number;
}

export interface PollResult {
  readonly received: number;
  readonly deleted: number;
  readonly failed: number;
}

/** Receive one batch and run it through `handler`. Returns zeros when the queue was empty. */
export async function pollOnce(handler: BatchHandler, options: PollOptions): Promise<PollResult> {
  const response = await options.client.send(
    new ReceiveMessageCommand({
      QueueUrl: options.queueUrl,
      MaxNumberOfMessages: options.batchSize ?? 10,
      WaitTimeSeconds: options.waitTimeSeconds ?? 20,
      MessageSystemAttributeNames: ['All'],
      MessageAttributeNames: ['All'],
    }),
  );
  const messages = response.Messages ?? [];
  if (messages.length === 0) return { received: 0, deleted: 0, failed: 0 };

  const arn = options.queueArn ?? queueArnFromUrl(options.queueUrl);
  const event: SQSEvent = { Records: messages.map((m) => toRecord(m, arn)) };
  const deadline = Date.now() + (options.invocationTimeoutMs ?? 60_000);
  const result = await handler(event, { getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()) });
  const failed = new Set((result?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
  const done = messages.filter((m) => !failed.has(m.MessageId ?? ''));
  if (done.length > 0) {
    await options.client.send(
      new DeleteMessageBatchCommand({
        QueueUrl: options.queueUrl,
        Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
      }),
    );
  }
  return { received: messages.length, deleted: done.length, failed: failed.size };
}

/** Poll until `signal` aborts. Errors of one poll are reported and polling goes on. */
export async function pollForever(handler: BatchHandler, options: PollOptions & { signal: AbortSignal; onError?: (error: unknown) => void; onBatch?: (result: PollResult) => void }): Promise<void> {
  while (!options.signal.aborted) {
    try {
      const result = await pollOnce(handler, options);
      if (result.received > 0) options.onBatch?.(result);
    } catch (error) {
      if (options.signal.aborted) break;
      options.onError?.(error);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

function toRecord(message: Message, arn: string): SQSRecord {
  const attrs = message.Attributes ?? {};
  return {
    messageId: message.MessageId ?? '',
    receiptHandle: message.ReceiptHandle ?? '',
    body: message.Body ?? '',
    attributes: {
      ApproximateReceiveCount: attrs['ApproximateReceiveCount'] ?? '1',
      SentTimestamp: attrs['SentTimestamp'] ?? String(Date.now()),
      SenderId: attrs['SenderId'] ?? 'local',
      ApproximateFirstReceiveTimestamp: attrs['ApproximateFirstReceiveTimestamp'] ?? String(Date.now()),
    },
    messageAttributes: Object.fromEntries(
      Object.entries(message.MessageAttributes ?? {}).map(([name, value]) => [
        name,
        { dataType: value.DataType ?? 'String', ...(value.StringValue !== undefined ? { stringValue: value.StringValue } : {}) },
      ]),
    ),
    md5OfBody: message.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: arn,
    awsRegion: arn.split(':')[3] ?? 'us-east-1',
  };
}

/** `https://sqs.eu-west-1.amazonaws.com/123456789012/mail` → `arn:aws:sqs:eu-west-1:123456789012:mail`. */
export function queueArnFromUrl(url: string): string {
  const parsed = new URL(url);
  const [, account = '000000000000', name = 'queue'] = parsed.pathname.split('/');
  const region = /sqs\.([\w-]+)\./.exec(parsed.hostname)?.[1] ?? 'us-east-1';
  return `arn:aws:sqs:${region}:${account}:${name}`;
}
