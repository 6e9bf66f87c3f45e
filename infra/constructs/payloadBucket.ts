import { Duration, Validations } from 'aws-cdk-lib';
import { AnyPrincipal, ArnPrincipal, Effect, PolicyStatement, type IRole } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { PAYLOAD_EXPIRY_DAYS } from '../constants.js';

/** Props of {@link PayloadBucket}. */
export interface PayloadBucketProps {
  /**
   * Customer-managed key for the objects (with an S3 Bucket Key, so one data key serves many).
   * @default - S3-managed encryption (SSE-S3)
   */
  readonly encryptionKey?: IKey;
}

/**
 * Where bodies above the queue's 1 MiB limit wait behind an SQS Extended Client S3 pointer
 * (docs/payloads.md, docs/design.md §1): encrypted, no public access, TLS only, no versioning
 * (a deleted payload is gone), objects expire after {@link PAYLOAD_EXPIRY_DAYS} days — a day
 * longer than the DLQ keeps the pointer, so a redrive within the DLQ's retention finds its object.
 * The worker deletes an object once its message is relayed; the rule removes the rest.
 */
export class PayloadBucket extends Construct {
  public readonly bucket: Bucket;

  public constructor(scope: Construct, id: string, props: PayloadBucketProps = {}) {
    super(scope, id);
    this.bucket = new Bucket(this, 'Bucket', {
      ...(props.encryptionKey ? { encryption: BucketEncryption.KMS, encryptionKey: props.encryptionKey, bucketKeyEnabled: true } : { encryption: BucketEncryption.S3_MANAGED }),
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      versioned: false,
      lifecycleRules: [{ id: 'ExpireStrayPayloads', expiration: Duration.days(PAYLOAD_EXPIRY_DAYS), abortIncompleteMultipartUploadAfter: Duration.days(1) }],
    });
    Validations.of(this.bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'Objects are message bodies that live minutes to days, written by producers and read once by the worker, whose ' +
        'log lines name each object it reads or deletes; an access-log bucket would keep a second, longer-lived trail of ' +
        'the same traffic. Enable CloudTrail S3 data events on this bucket where an audit needs every request.',
    });
  }

  /**
   * The worker's access: `s3:GetObject` and `s3:DeleteObject` on the objects, nothing on the bucket
   * itself, and a bucket-policy statement that denies every other principal GetObject — the
   * payloads have no other readers.
   */
  public allowWorker(role: IRole): void {
    const objects = this.bucket.arnForObjects('*');
    role.addToPrincipalPolicy(new PolicyStatement({ sid: 'ReadAndDeletePayloads', actions: ['s3:GetObject', 's3:DeleteObject'], resources: [objects] }));
    this.bucket.addToResourcePolicy(
      new PolicyStatement({
        sid: 'OnlyTheWorkerReadsPayloads',
        effect: Effect.DENY,
        principals: [new AnyPrincipal()],
        actions: ['s3:GetObject'],
        resources: [objects],
        conditions: { ArnNotEquals: { 'aws:PrincipalArn': role.roleArn } },
      }),
    );
    this.bucket.encryptionKey?.grantDecrypt(role);
  }

  /**
   * Lets each producer role offload bodies: `s3:PutObject` on the objects, in the bucket policy
   * (nothing is written on the roles, which may live elsewhere). A customer-managed key needs
   * `kms:GenerateDataKey` for them too: grant it in the key's policy.
   */
  public allowProducers(roles: readonly IRole[]): void {
    if (roles.length === 0) return;
    this.bucket.addToResourcePolicy(
      new PolicyStatement({
        sid: 'ProducersPutPayloads',
        principals: roles.map((role) => new ArnPrincipal(role.roleArn)),
        actions: ['s3:PutObject'],
        resources: [this.bucket.arnForObjects('*')],
      }),
    );
  }
}
