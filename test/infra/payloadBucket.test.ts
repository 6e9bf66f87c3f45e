/**
 * The payload bucket (docs/payloads.md): encrypted, private, TLS only, unversioned, objects
 * expiring after the DLQ's retention; the worker reads and deletes objects and nothing else, no
 * other principal may read them, producers may only put them; cdk-nag clean.
 */
import { Stack } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { AccountPrincipal, Role } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logicalId, rolePolicyStatements, synthApp, type SynthesizedApp } from './helpers.js';

const ROLE_ARN = 'arn:aws:iam::123456789012:role/acme-billing-producer';
let synth: SynthesizedApp;

beforeAll(() => {
  // synthApp throws on any cdk-nag finding that is not acknowledged: both variants are nag-clean.
  synth = synthApp(
    {
      Plain: { producerRoleArns: [ROLE_ARN] },
      WithKey: (app) => ({ encryptionKey: new Key(new Stack(app, 'Keys'), 'Key', { enableKeyRotation: true }), producerRoles: [new Role(new Stack(app, 'Producers'), 'P', { assumedBy: new AccountPrincipal('123456789012') })] }),
    },
    { cloudFormationValidation: false },
  );
});
afterAll(() => synth?.cleanup());

type Statement = Record<string, unknown>;
const bucketPolicy = (id: string): Statement[] =>
  Object.values(synth.template(id).findResources('AWS::S3::BucketPolicy')).flatMap((p) => (p as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument.Statement);

describe('payload bucket', () => {
  it('is S3-managed encrypted without a key, blocks public access, unversioned, expires objects after 15 days', () => {
    const template = synth.template('Plain');
    template.resourceCountIs('AWS::S3::Bucket', 1);
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      VersioningConfiguration: Match.absent(),
      LifecycleConfiguration: { Rules: [Match.objectLike({ Id: 'ExpireStrayPayloads', ExpirationInDays: 15, Status: 'Enabled' })] },
    });
  });

  it('uses the stack key when one is given, with an S3 Bucket Key', () => {
    synth.template('WithKey').hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: Match.anyValue() }, BucketKeyEnabled: true }] },
    });
  });

  it('denies non-TLS requests and every reader but the worker role', () => {
    const stack = synth.stacks.Plain!;
    const statements = bucketPolicy('Plain');
    expect(statements).toContainEqual(expect.objectContaining({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }));
    expect(statements).toContainEqual(
      expect.objectContaining({
        Sid: 'OnlyTheWorkerReadsPayloads',
        Effect: 'Deny',
        Principal: { AWS: '*' },
        Action: 's3:GetObject',
        Condition: { ArnNotEquals: { 'aws:PrincipalArn': { 'Fn::GetAtt': [logicalId(stack.relayFunction.role), 'Arn'] } } },
      }),
    );
  });

  it('lets producers put objects and nothing else', () => {
    const bucketId = logicalId(synth.stacks.Plain!.payloads.bucket);
    expect(bucketPolicy('Plain').filter((s) => s['Sid'] === 'ProducersPutPayloads')).toEqual([
      { Sid: 'ProducersPutPayloads', Effect: 'Allow', Principal: { AWS: ROLE_ARN }, Action: 's3:PutObject', Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, '/*']] } },
    ]);
  });

  it('gives the worker s3:GetObject and s3:DeleteObject on its objects only, and PAYLOAD_BUCKET_NAME', () => {
    const template = synth.template('Plain');
    const stack = synth.stacks.Plain!;
    const bucketId = logicalId(stack.payloads.bucket);
    const s3 = rolePolicyStatements(template, stack).filter((s) => JSON.stringify(s['Action']).includes('s3:'));
    expect(s3).toEqual([
      { Sid: 'ReadAndDeletePayloads', Effect: 'Allow', Action: ['s3:DeleteObject', 's3:GetObject'], Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, '/*']] } },
    ]);
    template.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ PAYLOAD_BUCKET_NAME: { Ref: bucketId } }) } });
    template.hasOutput('PayloadBucketName', { Value: { Ref: bucketId } });
  });

  it('with a key, the worker may decrypt with it', () => {
    const stack = synth.stacks.WithKey!;
    const statements = rolePolicyStatements(synth.template('WithKey'), stack);
    expect(statements).toContainEqual(expect.objectContaining({ Action: expect.arrayContaining(['kms:Decrypt']) }));
  });
});
