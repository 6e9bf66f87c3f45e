/** SubmissionQueue on SQS: SendMessage, resolved only once SQS has the message (it answered with an id). */
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { PointerMessage } from '../../../lambda/core/payloads.js';
import type { SubmissionQueue } from '../ports.js';

export class SqsSubmissionQueue implements SubmissionQueue {
  public constructor(private readonly options: { readonly client: Pick<SQSClient, 'send'>; readonly queueUrl: string }) {}

  public async send(body: string, attributes?: PointerMessage['attributes']): Promise<{ readonly messageId: string }> {
    const sent = await this.options.client.send(new SendMessageCommand({ QueueUrl: this.options.queueUrl, MessageBody: body, ...(attributes && { MessageAttributes: { ...attributes } }) }));
    // No id means no proof SQS stored it: the client must retry rather than trust a 250.
    if (!sent.MessageId) throw new Error('SQS SendMessage answered without a MessageId');
    return { messageId: sent.MessageId };
  }
}
