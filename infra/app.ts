import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { readMailrelayContext } from './context.js';
import { MailrelayPropsError } from './errors.js';
import { MailrelayStack } from './mailrelayStack.js';

// The CDK app: one stack, configured by context (docs/deploy.md), checked by
// cdk-nag's AwsSolutions pack on every synth.
const app = new App();
try {
  const { stackName, props } = readMailrelayContext((key) => app.node.tryGetContext(key));
  // Only a VPC lookup needs a concrete account and region; otherwise the template stays environment-agnostic.
  const account = process.env.CDK_DEFAULT_ACCOUNT;
  const region = process.env.CDK_DEFAULT_REGION;
  new MailrelayStack(app, stackName, {
    ...props,
    ...(props.vpcId !== undefined && account && region ? { env: { account, region } } : {}),
    description: 'mailrelay: SQS -> Lambda -> authenticated, encrypted SMTP',
  });
} catch (error) {
  if (!(error instanceof MailrelayPropsError)) throw error;
  console.error(error.message);
  process.exit(1);
}
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
