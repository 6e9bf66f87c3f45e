/**
 * Reading the dead-letter queue without taking it over: messages are received with a short
 * visibility timeout, de-duplicated, and made visible again at once unless the caller keeps them.
 */
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { DLQ_ATTRIBUTES } from '../../lambda/adapters/sqsDeadLetterQueue.js';
import { queueCounts } from '../queueCounts.js';

/** One DLQ message with the reason the worker attached (docs/design.md §3). */
export interface DeadLetter {
  /** The DLQ's message id (what `dlq redrive --id` takes). */
  readonly id: string;
  readonly receiptHandle: string;
  /** The original queue message, unchanged. */
  readonly body: string;
  /** When it entered the DLQ (ms since the epoch). */
  readonly sentAt: number | undefined;
  /** Absent when the queue's own redrive policy moved it (the worker did not get to say why). */
  readonly reason: string | undefined;
  readonly detail: string | undefined;
  readonly smtpCode: number | undefined;
  readonly smtpReply: string | undefined;
  readonly route: string | undefined;
  /** Recipients still undelivered: what a redrive sends to. */
  readonly recipients: readonly string[];
  readonly idempotencyKey: string | undefined;
  readonly sourceMessageId: string | undefined;
  readonly receiveCount: number | undefined;
  readonly failedAt: string | undefined;
}

export interface ReceiveOptions {
  /** Stop after this many messages.  @default 100 */
  readonly max?: number;
  /** How long received messages stay hidden if something goes wrong before they are released.  @default 20 */
  readonly visibilitySeconds?: number;
}

/** Empty receives in a row that end the scan (SQS short polls may miss messages now and then). */
const EMPTY_RECEIVES_TO_STOP = 2;

/** Receives up to `max` DLQ messages (each once). Call {@link release} for the ones not deleted. */
export async function receiveDeadLetters(client: Pick<SQSClient, 'send'>, queueUrl: string, options: ReceiveOptions = {}): Promise<DeadLetter[]> {
  const max = options.max ?? 100;
  const { Attributes } = await client.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages'] }));
  const expected = Number(Attributes?.ApproximateNumberOfMessages ?? 0);
  const found = new Map<string, DeadLetter>();
  let empty = 0;
  while (found.size < max && empty < EMPTY_RECEIVES_TO_STOP) {
    const { Messages = [] } = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: Math.min(10, max - found.size),
        VisibilityTimeout: options.visibilitySeconds ?? 20,
        WaitTimeSeconds: found.size >= expected ? 0 : 1,
        MessageAttributeNames: ['All'],
        MessageSystemAttributeNames: ['SentTimestamp'],
      }),
    );
    const fresh = Messages.filter((m) => m.MessageId && !found.has(m.MessageId));
    if (fresh.length === 0) empty++;
    else empty = 0;
    for (const m of fresh) found.set(m.MessageId!, toDeadLetter(m));
    if (found.size >= expected && fresh.length === 0) break;
  }
  return [...found.values()].sort((a, b) => (a.sentAt ?? 0) - (b.sentAt ?? 0));
}

/**
 * Messages of the queue received by someone and not yet deleted or released: another `dlq list`,
 * `show` or `redrive` holds them for its visibility timeout (20 s here). Approximate, as SQS's
 * counts are.
 */
export async function heldElsewhere(client: Pick<SQSClient, 'send'>, queueUrl: string): Promise<number> {
  return (await queueCounts(client, queueUrl)).notVisible;
}

/** Makes messages visible again at once. */
export async function release(client: Pick<SQSClient, 'send'>, queueUrl: string, letters: readonly DeadLetter[]): Promise<void> {
  for (let i = 0; i < letters.length; i += 10) {
    const chunk = letters.slice(i, i + 10);
    await client.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: queueUrl,
        Entries: chunk.map((l, n) => ({ Id: String(n), ReceiptHandle: l.receiptHandle, VisibilityTimeout: 0 })),
      }),
    );
  }
}

export async function remove(client: Pick<SQSClient, 'send'>, queueUrl: string, letter: DeadLetter): Promise<void> {
  await client.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: letter.receiptHandle }));
}

function toDeadLetter(message: Message): DeadLetter {
  const attrs = message.MessageAttributes ?? {};
  const get = (name: string): string | undefined => attrs[name]?.StringValue;
  const num = (name: string): number | undefined => {
    const v = get(name);
    return v === undefined || v === '' || !Number.isFinite(Number(v)) ? undefined : Number(v);
  };
  let recipients: string[] = [];
  try {
    const parsed: unknown = JSON.parse(get(DLQ_ATTRIBUTES.recipients) ?? '[]');
    if (Array.isArray(parsed)) recipients = parsed.map(String);
  } catch {
    recipients = [];
  }
  const sent = Number(message.Attributes?.SentTimestamp);
  return {
    id: message.MessageId ?? '',
    receiptHandle: message.ReceiptHandle ?? '',
    body: message.Body ?? '',
    sentAt: Number.isFinite(sent) && sent > 0 ? sent : undefined,
    reason: get(DLQ_ATTRIBUTES.reason),
    detail: get(DLQ_ATTRIBUTES.detail),
    smtpCode: num(DLQ_ATTRIBUTES.smtpCode),
    smtpReply: get(DLQ_ATTRIBUTES.smtpReply),
    route: get(DLQ_ATTRIBUTES.route),
    recipients,
    idempotencyKey: get(DLQ_ATTRIBUTES.idempotencyKey),
    sourceMessageId: get(DLQ_ATTRIBUTES.sourceMessageId),
    receiveCount: num(DLQ_ATTRIBUTES.receiveCount),
    failedAt: get(DLQ_ATTRIBUTES.failedAt),
  };
}
