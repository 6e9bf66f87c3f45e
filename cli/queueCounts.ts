/** A queue's approximate message counts, from one GetQueueAttributes (`mailrelay queue`, `dlq list`). */
import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';

export interface QueueCounts {
  /** Waiting to be received (ApproximateNumberOfMessages). */
  readonly visible: number;
  /** Received and not yet deleted or released (ApproximateNumberOfMessagesNotVisible). */
  readonly notVisible: number;
  /** Sent with a delay, not visible yet (ApproximateNumberOfMessagesDelayed). */
  readonly delayed: number;
}

export async function queueCounts(sqs: Pick<SQSClient, 'send'>, url: string): Promise<QueueCounts> {
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'],
    }),
  );
  const n = (name: string): number => Number(Attributes[name as keyof typeof Attributes] ?? 0) || 0;
  return { visible: n('ApproximateNumberOfMessages'), notVisible: n('ApproximateNumberOfMessagesNotVisible'), delayed: n('ApproximateNumberOfMessagesDelayed') };
}
