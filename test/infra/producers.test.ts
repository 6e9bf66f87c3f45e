/**
 * Producer principals (issue 14): the stack grants each producer role `sqs:SendMessage` on the
 * queue, in the queue's resource policy, and writes nothing else for them.
 */
import { Match } from 'aws-cdk-lib/assertions';
import { Stack } from 'aws-cdk-lib';
import { AccountPrincipal, Role } from 'aws-cdk-lib/aws-iam';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logicalId, synthApp, type SynthesizedApp } from './helpers.js';

const ROLE_ARN = 'arn:aws:iam::123456789012:role/acme-billing-producer';
let synth: SynthesizedApp;

beforeAll(() => {
  synth = synthApp(
    {
      ByArn: { producerRoleArns: [ROLE_ARN] },
      ByRole: (app) => {
        const stack = new Stack(app, 'Producers');
        return { producerRoles: [new Role(stack, 'Globex', { assumedBy: new AccountPrincipal('123456789012') })] };
      },
    },
    { cloudFormationValidation: false },
  );
});
afterAll(() => synth?.cleanup());

describe('producer principals', () => {
  it('grants each producer role sqs:SendMessage on the queue and nothing else', () => {
    // Prepare
    const template = synth.template('ByArn');
    const queueId = logicalId(synth.stacks.ByArn!.queues.queue);

    // Assess: one statement for the producers, SendMessage only, on this queue only
    const policies = template.findResources('AWS::SQS::QueuePolicy');
    const statements = Object.values(policies).flatMap((p) => (p as { Properties: { PolicyDocument: { Statement: Record<string, unknown>[] } } }).Properties.PolicyDocument.Statement);
    const producer = statements.filter((s) => s['Sid'] === 'ProducersSendMessage');
    expect(producer).toEqual([
      { Sid: 'ProducersSendMessage', Effect: 'Allow', Principal: { AWS: ROLE_ARN }, Action: 'sqs:SendMessage', Resource: { 'Fn::GetAtt': [queueId, 'Arn'] } },
    ]);
    // Nothing written on the role itself, and the worker's role keeps its one policy: the ARN
    // appears in the queue policy and in the payload bucket's (s3:PutObject, payloadBucket.test.ts).
    template.resourceCountIs('AWS::IAM::Policy', 1);
    expect(JSON.stringify(template.toJSON()).split(ROLE_ARN).length - 1).toBe(2);
  });

  it('takes roles of the same app as well', () => {
    synth.template('ByRole').hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Sid: 'ProducersSendMessage', Action: 'sqs:SendMessage' })]) },
    });
  });

  it('without producers, the queue policy only enforces TLS', () => {
    const none = synthApp({ Plain: {} }, { cloudFormationValidation: false });
    try {
      expect(JSON.stringify(none.template('Plain').findResources('AWS::SQS::QueuePolicy'))).not.toContain('ProducersSendMessage');
    } finally {
      none.cleanup();
    }
  });
});
