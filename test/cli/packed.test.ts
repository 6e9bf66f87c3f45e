/**
 * The CLI as an operator installs it: `npm pack` (which builds dist/cli through `prepack`), the
 * tarball unpacked, `npm ci --omit=dev` there with the repository's lock file (from the npm
 * cache: --prefer-offline), then `npx mailrelay`. No tsx, no TypeScript sources: the build and
 * the runtime dependencies alone must run it, including the AWS SDK clients, which it uses here
 * against the stand-ins of `npm start`.
 */
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../local/start.js';
import { killAll, REPO_ROOT, run, type RunResult } from './helpers.js';

const NPM_TIMEOUT_MS = 180_000;

let dir: string;
let pkg: string;
let stack: LocalStack;

/** `npx mailrelay ARGS` in the unpacked package, with no way back to the repository's sources. */
function packed(args: readonly string[]): Promise<RunResult> {
  const env = { ...process.env, MAILRELAY_CLI: undefined, NODE_OPTIONS: undefined };
  return run('npx', ['--offline', 'mailrelay', ...args], { cwd: pkg, env, timeoutMs: 30_000 });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mailrelay-packed-'));
  const packing = await run('npm', ['pack', '--pack-destination', dir, '--silent'], { timeoutMs: NPM_TIMEOUT_MS });
  expect(packing.code, packing.stderr).toBe(0);
  const tarball = readdirSync(dir).find((name) => name.endsWith('.tgz'));
  expect(tarball).toBeDefined();
  const untar = await run('tar', ['-xzf', join(dir, tarball!), '-C', dir]);
  expect(untar.code, untar.stderr).toBe(0);
  pkg = join(dir, 'package');
  copyFileSync(join(REPO_ROOT, 'package-lock.json'), join(pkg, 'package-lock.json'));
  const install = await run('npm', ['ci', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund'], { cwd: pkg, timeoutMs: NPM_TIMEOUT_MS });
  expect(install.code, install.stderr).toBe(0);
  stack = await startLocalStack({ stateFile: join(dir, 'endpoints.json'), workerLogs: 'silent', print: () => undefined });
}, NPM_TIMEOUT_MS * 2);

afterAll(async () => {
  killAll();
  await stack?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the packed CLI, installed without dev dependencies', () => {
  it('ships the build, not the sources, and installs no dev dependency', () => {
    expect(existsSync(join(pkg, 'dist/cli/main.mjs'))).toBe(true);
    expect(existsSync(join(pkg, 'cli'))).toBe(false);
    expect(existsSync(join(pkg, 'lambda'))).toBe(false);
    for (const dev of ['tsx', 'typescript', 'esbuild', 'vitest', 'aws-cdk-lib']) {
      expect(existsSync(join(pkg, 'node_modules', dev)), dev).toBe(false);
    }
    expect(existsSync(join(pkg, 'node_modules/@aws-sdk/client-sqs'))).toBe(true);
  });

  it('npx mailrelay --help prints the usage', async () => {
    const result = await packed(['--help']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: mailrelay \[--local\] COMMAND/);
    expect(result.stdout).toContain('dlq redrive');
  });

  it('runs commands that use the AWS SDK against the local stand-ins', async () => {
    const list = await packed(['--local', '--state-file', stack.stateFile!, 'config', 'list', '--json']);
    expect(list.code, list.stderr).toBe(0);
    const scopes = (JSON.parse(list.stdout) as { items: { scope: string }[] }).items.map((item) => item.scope).sort();
    expect(scopes).toEqual(['binding#acme.example', 'binding#globex.example', 'binding-group#tenants', 'domain#partner.example', 'global', 'submitter#demo-app']);

    const message = join(dir, 'message.json');
    writeFileSync(message, JSON.stringify({ from: 'billing@acme.example', to: ['bob@example.net'], subject: 'packed', text: 'hello' }));
    const sent = await packed(['--local', '--state-file', stack.stateFile!, 'enqueue', message, '--json']);
    expect(sent.code, sent.stderr).toBe(0);
    expect(sent.stdout).toMatch(/"messageId":\s*"[0-9a-f-]{36}"/);
  });

  it('reports an invalid message with its field path, as the worker would', async () => {
    const message = join(dir, 'invalid.json');
    writeFileSync(message, JSON.stringify({ from: 'billing@acme.example', to: ['bob@'], subject: 'x', text: 'y' }));
    const result = await packed(['enqueue', '--dry-run', message]);
    expect(result.code).toBe(1);
    expect(`${result.stdout}${result.stderr}`).toContain('to[0]');
  });
});
