import { Duration } from 'aws-cdk-lib';
import { ArnPrincipal, PolicyStatement, type IRole } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { DEAD_LETTER_RETENTION_DAYS, MAX_MESSAGE_SIZE_BYTES } from '../constants.js';

/** Props of {@link RelayQueues}. Validated by the stack (`resolveMailrelayProps`). */
export interface RelayQueuesProps {
  /** Visibility timeout of the queue (≥ 6 × the function timeout + batching window). */
  readonly visibilityTimeout: Duration;
  /** How long the queue keeps a message (shorter than the DLQ's 14 days). */
  readonly retentionPeriod: Duration;
  /** Receives before SQS moves a message to the DLQ. */
  readonly maxReceiveCount: number;
  /**
   * Customer-managed key for both queues.
   * @default - SQS-managed server-side encryption (SSE-SQS)
   */
  readonly encryptionKey?: IKey;
}

/**
 * The queue producers send to, and its dead-letter queue: both encrypted,
 * TLS-only (`aws:SecureTransport`), with 1 MiB messages; the DLQ keeps
 * entries 14 days.
 */
export class RelayQueues extends Construct {
  /** The queue producers send to; the function consumes it. */
  public readonly queue: Queue;
  /** Where messages that failed permanently, or too often, end up. */
  public readonly deadLetterQueue: Queue;

  public constructor(scope: Construct, id: string, props: RelayQueuesProps) {
    super(scope, id);
    const encryption = props.encryptionKey
      ? { encryption: QueueEncryption.KMS, encryptionMasterKey: props.encryptionKey, dataKeyReuse: Duration.minutes(5) }
      : { encryption: QueueEncryption.SQS_MANAGED };

    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      ...encryption,
      enforceSSL: true,
      retentionPeriod: Duration.days(DEAD_LETTER_RETENTION_DAYS),
      maxMessageSizeBytes: MAX_MESSAGE_SIZE_BYTES,
    });

    this.queue = new Queue(this, 'Queue', {
      ...encryption,
      enforceSSL: true,
      visibilityTimeout: props.visibilityTimeout,
      retentionPeriod: props.retentionPeriod,
      maxMessageSizeBytes: MAX_MESSAGE_SIZE_BYTES,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount },
    });
  }

  /**
   * Lets each producer role send to the queue and do nothing else: one statement in the queue's
   * resource policy, `sqs:SendMessage` on this queue (docs/producers.md). Writes nothing on the
   * roles themselves, so they may live in another stack or account. A customer-managed key needs
   * `kms:GenerateDataKey` and `kms:Decrypt` for them too: grant that in the key's policy.
   */
  public allowProducers(roles: readonly IRole[]): void {
    if (roles.length === 0) return;
    this.queue.addToResourcePolicy(
      new PolicyStatement({
        sid: 'ProducersSendMessage',
        principals: roles.map((role) => new ArnPrincipal(role.roleArn)),
        actions: ['sqs:SendMessage'],
        resources: [this.queue.queueArn],
      }),
    );
  }
}
