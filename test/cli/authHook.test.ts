/**
 * The auth hook outside the Lambda (docs/auth-hook.md): `npm start`'s worker with a hook module,
 * and `mailrelay config explain` / `check` / `worker` with `--auth-hook FILE`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../local/start.js';
import { killAll, mailrelay } from './helpers.js';

const HOOK = fileURLToPath(new URL('./fixtures/tenantHook.mjs', import.meta.url));
const HOOK_FUNCTION = fileURLToPath(new URL('./fixtures/tenantHookFunction.mjs', import.meta.url));
/** Recipients at this domain go through the function hook (its config item names `auth.hookFunction`). */
const FUNCTION_DOMAIN = 'fn-hook.example';
const SECRETS = ['demo-password', 'partner-password'];

let stack: LocalStack;
let dir: string;
let cli: (...args: string[]) => ReturnType<typeof mailrelay>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mailrelay-hook-'));
  stack = await startLocalStack({ stateFile: join(dir, 'endpoints.json'), workerLogs: 'silent', print: () => undefined, authHookFile: HOOK, authHookFunctions: { 'tenant-auth': HOOK_FUNCTION } });
  await stack.dynamo.send(new PutCommand({ TableName: stack.state.configTable, Item: { scope: `domain#${FUNCTION_DOMAIN}`, auth: { hookFunction: 'tenant-auth' } } }));
  cli = (...args) => mailrelay(['--local', '--state-file', stack.stateFile!, ...args]);
});

afterAll(async () => {
  killAll();
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function expectNoSecrets(output: string): void {
  for (const secret of SECRETS) expect(output).not.toContain(secret);
}

describe('the local worker with --auth-hook', () => {
  it('authenticates each message as the hook says for its auth.key', async () => {
    const before = stack.relay.messages.length;
    const body = (key: string | undefined, id: string) =>
      JSON.stringify({ idempotencyKey: id, from: 'billing@acme.example', to: ['bob@example.net'], subject: 'hook', text: 'x', ...(key ? { auth: { key } } : {}) });

    await stack.enqueue(body('partner-tenant', 'hook-1'));
    await stack.enqueue(body(undefined, 'hook-2'));
    const relayed = (await stack.relay.waitForMessages(before + 2, 15_000)).slice(before);

    expect(relayed.map((m) => [m.user, m.authMethod]).sort()).toEqual([
      ['demo', 'PLAIN'],
      ['partner-user', 'LOGIN'],
    ]);
  });
});

describe('npm start --auth-hook-function (the local Lambda Invoke stand-in)', () => {
  it('a route naming auth.hookFunction invokes the function; the message authenticates as it says; the payload has no body', async () => {
    const before = stack.relay.messages.length;
    const invoked = stack.lambda!.invocations.length;
    await stack.enqueue(JSON.stringify({ idempotencyKey: 'fn-hook-1', from: 'billing@acme.example', to: [`bob@${FUNCTION_DOMAIN}`], subject: 'fn hook', text: 'body-only-the-relay-sees', auth: { key: 'fn-tenant' } }));
    const [relayed] = (await stack.relay.waitForMessages(before + 1, 15_000)).slice(before);

    expect([relayed!.user, relayed!.authMethod]).toEqual(['partner-user', 'LOGIN']);
    const calls = stack.lambda!.invocations.slice(invoked);
    expect(calls.map((c) => [c.functionName, c.outcome])).toEqual([['tenant-auth', 'ok']]);
    expect(calls[0]!.payload).toMatchObject({ recipientDomain: FUNCTION_DOMAIN, auth: { key: 'fn-tenant' } });
    expect(calls[0]!.raw).not.toContain('body-only-the-relay-sees');
  });

  it('refuses a function file that does not exist or exports no handler, before anything starts', async () => {
    await expect(startLocalStack({ stateFile: false, worker: false, authHookFunctions: { f: join(dir, 'missing.mjs') } })).rejects.toThrow(/--auth-hook-function f: function .*missing\.mjs: no such file/);
    await expect(startLocalStack({ stateFile: false, worker: false, authHookFunctions: { f: HOOK } })).rejects.toThrow(/--auth-hook-function f: .*exports no function handler/);
  });

  it('mailrelay --local config explain invokes it too, and shows origin hook', async () => {
    const result = await cli('config', 'explain', '--from', 'billing@acme.example', '--to', `bob@${FUNCTION_DOMAIN}`, '--auth-key', 'fn-tenant');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/auth\.user\s+partner-user\s+hook/);
    expectNoSecrets(result.stdout + result.stderr);
  });
});

describe('config explain --auth-hook', () => {
  it('shows the fields the hook sets with origin hook, secrets as references or fingerprints', async () => {
    const literal = await cli('config', 'explain', '--from', 'billing@acme.example', '--to', 'bob@example.net', '--auth-key', 'partner-tenant', '--auth-hook', HOOK);
    expect(literal.code).toBe(0);
    expect(literal.stdout).toMatch(/auth\.type\s+LOGIN\s+hook/);
    expect(literal.stdout).toMatch(/auth\.user\s+partner-user\s+hook/);
    expect(literal.stdout).toMatch(/auth\.pass\s+\(a literal secret, fingerprint [\w-]+\)\s+hook/);
    expect(literal.stdout).toMatch(/auth\.key\s+partner-tenant\s+message/);
    expectNoSecrets(literal.stdout + literal.stderr);

    const json = await cli('config', 'explain', '--from', 'billing@acme.example', '--to', 'bob@example.net', '--auth-key', 'demo-tenant', '--auth-hook', HOOK, '--json');
    const route = (JSON.parse(json.stdout) as { routes: { settings: { auth: { pass: string } }; origins: Record<string, string> }[] }).routes[0]!;
    expect(route.settings.auth.pass).toBe('secret:mailrelay/local-relay#password');
    expect(route.origins['auth.pass']).toBe('hook');
    expect(route.origins['relay.host']).toBe('global');
  });

  it('a malformed answer is reported with the field, exit status 1', async () => {
    const result = await cli('config', 'explain', '--from', 'billing@acme.example', '--to', 'bob@example.net', '--auth-key', 'broken-tenant', '--auth-hook', HOOK);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('auth hook: the auth hook answered with an invalid field: hook.pass');
  });

  it('a file without the export is a usage error', async () => {
    const result = await cli('config', 'explain', '--from', 'billing@acme.example', '--to', 'bob@example.net', '--auth-hook', 'local/config.json');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--auth-hook');
  });
});

describe('check --auth-hook', () => {
  it('authenticates with the hook\'s credentials and never prints them', async () => {
    const result = await cli('check', '--from', 'billing@acme.example', '--to', 'bob@example.net', '--auth-key', 'partner-tenant', '--auth-hook', HOOK);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('auth hook:  module set auth.pass, auth.type, auth.user');
    expect(result.stdout).toMatch(/OK: .*AUTH LOGIN as partner-user accepted/);
    expectNoSecrets(result.stdout + result.stderr);
  });
});

describe('mailrelay worker --auth-hook', () => {
  it('loads the hook module and authenticates each message as it says for its auth.key', async () => {
    // A stack of its own without a worker: `mailrelay worker` (a subprocess) is the only consumer.
    const own = await startLocalStack({ stateFile: false, worker: false, gateway: false, workerLogs: 'silent', print: () => undefined });
    try {
      const { state } = own;
      const env = {
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'local',
        AWS_SECRET_ACCESS_KEY: 'local',
        AWS_PROFILE: '',
        AWS_ENDPOINT_URL_DYNAMODB: state.endpoints.dynamodb,
        AWS_ENDPOINT_URL_SQS: state.endpoints.sqs,
        AWS_ENDPOINT_URL_SECRETS_MANAGER: state.endpoints.secrets,
        CONFIG_TABLE_NAME: state.configTable,
        IDEMPOTENCY_TABLE_NAME: state.idempotencyTable,
        DEAD_LETTER_QUEUE_URL: state.dlqUrl,
        SECRET_PREFIX: state.secretPrefix,
        RELAY_CA_FILE: state.caFile,
        POWERTOOLS_METRICS_DISABLED: 'true',
      };
      const worker = mailrelay(['worker', '--queue-url', state.queueUrl, '--wait-time', '1', '--auth-hook', HOOK], env);
      await own.enqueue(JSON.stringify({ idempotencyKey: 'worker-hook-1', from: 'billing@acme.example', to: ['bob@example.net'], subject: 'hook', text: 'x', auth: { key: 'partner-tenant' } }));
      const [relayed] = await own.relay.waitForMessages(1, 15_000);
      killAll();
      const result = await worker;

      expect([relayed!.user, relayed!.authMethod]).toEqual(['partner-user', 'LOGIN']);
      expect(result.stderr).toContain(`mailrelay worker: auth hook ${HOOK}`);
      expectNoSecrets(result.stdout + result.stderr);
    } finally {
      await own.stop();
    }
  });

  it('refuses a hook file that does not exist before polling', async () => {
    const env = { CONFIG_TABLE_NAME: 'c', IDEMPOTENCY_TABLE_NAME: 'i', DEAD_LETTER_QUEUE_URL: 'http://127.0.0.1:9/dlq', AWS_REGION: 'us-east-1' };
    const result = await mailrelay(['worker', '--queue-url', 'http://127.0.0.1:9/q', '--auth-hook', join(dir, 'missing.mjs')], env);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('missing.mjs: no such file');
  });
});
