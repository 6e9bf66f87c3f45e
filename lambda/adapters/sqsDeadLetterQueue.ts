/**
 * DeadLetterQueue on SQS: the original body, unchanged, with the reason as message attributes
 * (SQS allows 10). A body that cannot carry its attributes within the queue's size limit is not
 * truncated: the caller leaves it to the redrive policy and logs the reason.
 */
import { SendMessageCommand, type MessageAttributeValue, type SQSClient } from '@aws-sdk/client-sqs';
import type { DeadLetterQueue, DeadLetterReason } from '../core/ports.js';
import { FAILED_AT_ATTRIBUTE, IDEMPOTENCY_KEY_ATTRIBUTE, RECEIVE_COUNT_ATTRIBUTE, SOURCE_MESSAGE_ID_ATTRIBUTE } from '../worker/types.js';
import { classifyAwsError } from './awsErrors.js';

/** SQS's maximum message size, body and attributes together (raised to 1 MiB in 2025). */
export const SQS_MAX_MESSAGE_BYTES = 1_048_576;
/** Longest attribute value we write: an SMTP reply or a detail line, not a novel. */
const MAX_ATTRIBUTE_CHARS = 1024;

/** The attribute names, documented in docs/errors.md. */
export const DLQ_ATTRIBUTES = {
  reason: 'mailrelay.reason',
  detail: 'mailrelay.detail',
  smtpCode: 'mailrelay.smtpCode',
  smtpReply: 'mailrelay.smtpReply',
  route: 'mailrelay.route',
  recipients: 'mailrelay.recipients',
  idempotencyKey: IDEMPOTENCY_KEY_ATTRIBUTE,
  sourceMessageId: SOURCE_MESSAGE_ID_ATTRIBUTE,
  receiveCount: RECEIVE_COUNT_ATTRIBUTE,
  failedAt: FAILED_AT_ATTRIBUTE,
} as const;

export class SqsDeadLetterQueue implements DeadLetterQueue {
  public constructor(private readonly options: { readonly client: Pick<SQSClient, 'send'>; readonly queueUrl: string }) {}

  public async send(body: string, reason: DeadLetterReason): Promise<boolean> {
    const attributes = dlqAttributes(reason);
    if (messageSize(body, attributes) > SQS_MAX_MESSAGE_BYTES) return false;
    try {
      await this.options.client.send(new SendMessageCommand({ QueueUrl: this.options.queueUrl, MessageBody: body, MessageAttributes: attributes }));
      return true;
    } catch (error) {
      throw classifyAwsError(error, 'sending to the dead-letter queue');
    }
  }
}

export function dlqAttributes(reason: DeadLetterReason): Record<string, MessageAttributeValue> {
  const out: Record<string, MessageAttributeValue> = {};
  const put = (name: string, value: string | number | undefined, type: 'String' | 'Number' = 'String'): void => {
    if (value === undefined || value === '') return;
    out[name] = { DataType: type, StringValue: String(value).slice(0, MAX_ATTRIBUTE_CHARS) };
  };
  put(DLQ_ATTRIBUTES.reason, reason.reason);
  put(DLQ_ATTRIBUTES.detail, reason.detail);
  put(DLQ_ATTRIBUTES.smtpCode, reason.responseCode, 'Number');
  put(DLQ_ATTRIBUTES.smtpReply, reason.response);
  put(DLQ_ATTRIBUTES.route, reason.route);
  // Recipients are never truncated: a redrive must know all of them.
  if (reason.recipients.length) out[DLQ_ATTRIBUTES.recipients] = { DataType: 'String', StringValue: JSON.stringify(reason.recipients) };
  put(DLQ_ATTRIBUTES.idempotencyKey, reason.idempotencyKey);
  put(DLQ_ATTRIBUTES.sourceMessageId, reason.sourceMessageId);
  put(DLQ_ATTRIBUTES.receiveCount, reason.receiveCount, 'Number');
  put(DLQ_ATTRIBUTES.failedAt, reason.failedAt);
  return out;
}

/** SQS counts the body plus each attribute's name, data type and value. */
export function messageSize(body: string, attributes: Record<string, MessageAttributeValue>): number {
  let size = Buffer.byteLength(body, 'utf-8');
  for (const [name, value] of Object.entries(attributes)) {
    size += Buffer.byteLength(name) + Buffer.byteLength(value.DataType ?? '') + Buffer.byteLength(value.StringValue ?? '');
  }
  return size;
}
