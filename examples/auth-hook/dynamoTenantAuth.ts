/**
 * An auth hook (docs/auth-hook.md) that reads each tenant's SMTP credentials from a DynamoDB
 * table of the operator's, keyed by the message's `auth.key` — Momentum's
 * `outbound_smtp_auth_config` looking up `outbound_smtp_auth_key` in a datasource.
 *
 * The table (`TENANT_AUTH_TABLE`, partition key `authKey`) holds one item per tenant:
 *   { "authKey": "tenant-a", "user": "a@smtp.example", "type": "LOGIN", "passwordSecret": "mailrelay/tenants/a" }
 * `passwordSecret` names a Secrets Manager secret under the worker's secret prefix (the worker
 * reads it, cached, as for any keysource); an item may instead carry `password` itself, which the
 * hook hands over as a literal secret (never logged, never queued). An unknown key answers
 * nothing: the configured auth applies.
 *
 * Deploy: `new MailrelayStack(app, 'Mailrelay', { authHook: { entry: 'examples/auth-hook/dynamoTenantAuth.ts' } })`,
 * set TENANT_AUTH_TABLE on the function and grant it `dynamodb:GetItem` on the table
 * (`table.grantReadData(stack.relayFunction.role)`). Locally: `npm start -- --auth-hook examples/auth-hook/dynamoTenantAuth.ts`.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';

/** The context the worker hands the hook (the fields this hook reads). */
interface HookContext {
  readonly auth: { readonly key?: string };
}

/** Built once per cold start, like the worker's own clients. */
const documents = DynamoDBDocumentClient.from(new DynamoDBClient({}));

export async function outboundSmtpAuthConfig(context: HookContext, { signal }: { signal: AbortSignal }) {
  const key = context.auth.key;
  if (!key) return undefined;
  const tableName = process.env['TENANT_AUTH_TABLE'];
  if (!tableName) throw new Error('TENANT_AUTH_TABLE is not set');
  const { Item } = await documents.send(new GetCommand({ TableName: tableName, Key: { authKey: key } }), { abortSignal: signal });
  if (!Item) return undefined;
  const pass = typeof Item['passwordSecret'] === 'string' ? { secret: Item['passwordSecret'] } : (Item['password'] as string | undefined);
  return { type: Item['type'] as 'PLAIN' | 'LOGIN' | undefined, user: Item['user'] as string | undefined, pass };
}
