/** RetryScheduler on SQS: ChangeMessageVisibility sets when a deferred record comes back. */
import { ChangeMessageVisibilityCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { QueueRecord, RetryScheduler } from '../worker/types.js';

export class SqsRetryScheduler implements RetryScheduler {
  public constructor(private readonly options: { readonly client: Pick<SQSClient, 'send'>; readonly queueUrl?: string | undefined }) {}

  public async delay(record: QueueRecord, seconds: number): Promise<void> {
    const queueUrl = this.options.queueUrl ?? queueUrlFromArn(record.eventSourceARN);
    if (!queueUrl) throw new Error('no queue URL: set QUEUE_URL');
    await this.options.client.send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: record.receiptHandle, VisibilityTimeout: seconds }));
  }
}

/** `arn:aws:sqs:eu-west-1:123456789012:mail` → `https://sqs.eu-west-1.amazonaws.com/123456789012/mail`. */
export function queueUrlFromArn(arn: string | undefined): string | undefined {
  const match = /^arn:(aws[\w-]*):sqs:([\w-]+):(\d{12}):(.+)$/.exec(arn ?? '');
  if (!match) return undefined;
  const [, partition, region, account, name] = match;
  const suffix = partition === 'aws-cn' ? 'amazonaws.com.cn' : 'amazonaws.com';
  return `https://sqs.${region}.${suffix}/${account}/${name}`;
}
