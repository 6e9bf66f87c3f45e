/**
 * The cold-init baseline: what any SQS-to-SMTP function needs at the least, the AWS SDK clients
 * the worker uses and nodemailer, imported and constructed, nothing else. Bundled with the same
 * esbuild options as the handler, split the same way (`.build/bare/index.mjs`).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import nodemailer from 'nodemailer';

/** Construct one of each (no network): the counterpart of the handler's first invocation. */
export function init(): void {
  DynamoDBDocumentClient.from(new DynamoDBClient({}));
  new SQSClient({});
  new SecretsManagerClient({});
  new SSMClient({});
  nodemailer.createTransport({ host: '127.0.0.1', port: 587, requireTLS: true });
}
