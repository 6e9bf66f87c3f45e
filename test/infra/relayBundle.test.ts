/**
 * The deployed bundle (infra/relayBundle.ts), built as the stack builds it: a cold start loads the
 * entry and the chunks it imports statically, and none of the clients only some messages need
 * (S3 for pointer bodies, Lambda for function auth hooks, SSM for parameter keysources): those
 * are chunks loaded on first use. The built entry runs in a plain `node`, and the auth hook
 * module given as `authHookEntry` is bundled in place of `#auth-hook`.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROBE_ENV } from '../../bench/coldInit.js';
import { bundleRelay, ESM_REQUIRE_BANNER, RELAY_BUNDLE_CHUNKS, RELAY_BUNDLE_ENTRY, RELAY_HANDLER_SOURCE, type BundleFile, type RelayBundle } from '../../infra/relayBundle.js';
import { logicalId, synthApp } from './helpers.js';

const HOOK_ENTRY = fileURLToPath(new URL('./fixtures/authHook.ts', import.meta.url));
/** The clients a cold start must not load: each is behind a dynamic import in lambda/handlers/createWorker.ts. */
const LAZY_CLIENTS = ['@aws-sdk/client-s3', '@aws-sdk/client-lambda', '@aws-sdk/client-ssm'];

const hasInputOf = (file: BundleFile, pkg: string): boolean => file.inputs.some((input) => input.startsWith(`node_modules/${pkg}/`));

let dir: string;
let bundle: RelayBundle;
let hooked: RelayBundle;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mailrelay-bundle-'));
  bundle = bundleRelay(join(dir, 'plain'));
  hooked = bundleRelay(join(dir, 'hooked'), { authHookEntry: HOOK_ENTRY });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the split', () => {
  it('loads none of the lazy clients at start', () => {
    const atStart = bundle.files.filter((f) => f.atStart);
    expect(atStart[0]!.path).toBe(join(dir, 'plain', RELAY_BUNDLE_ENTRY));
    for (const pkg of LAZY_CLIENTS) {
      expect(atStart.filter((f) => hasInputOf(f, pkg)).map((f) => relative(dir, f.path)), pkg).toEqual([]);
    }
    // What every message needs is there: the worker, the DynamoDB and SQS clients, nodemailer.
    for (const pkg of ['@aws-sdk/client-dynamodb', '@aws-sdk/client-sqs', 'nodemailer']) {
      expect(atStart.some((f) => hasInputOf(f, pkg)), pkg).toBe(true);
    }
  });

  it('puts each lazy client in a chunk loaded on first use', () => {
    for (const pkg of LAZY_CLIENTS) {
      const lazy = bundle.files.filter((f) => !f.atStart && hasInputOf(f, pkg));
      expect(lazy.length, pkg).toBeGreaterThan(0);
      for (const f of lazy) expect(relative(join(dir, 'plain'), f.path), pkg).toMatch(new RegExp(`^${RELAY_BUNDLE_CHUNKS}/[^/]+\\.mjs$`));
    }
  });

  it('writes index.mjs and chunks/*.mjs, each with the require banner and a source map without sources content', () => {
    const out = join(dir, 'plain');
    expect(readdirSync(out).sort()).toEqual([RELAY_BUNDLE_CHUNKS, RELAY_BUNDLE_ENTRY, `${RELAY_BUNDLE_ENTRY}.map`]);
    const chunks = readdirSync(join(out, RELAY_BUNDLE_CHUNKS));
    expect(chunks.filter((f) => !/\.mjs(\.map)?$/.test(f))).toEqual([]);
    expect(bundle.files.map((f) => relative(out, f.path)).sort()).toEqual([RELAY_BUNDLE_ENTRY, ...chunks.filter((f) => f.endsWith('.mjs')).map((f) => `${RELAY_BUNDLE_CHUNKS}/${f}`)].sort());
    for (const f of bundle.files) {
      const code = readFileSync(f.path, 'utf8');
      expect(code.startsWith(ESM_REQUIRE_BANNER), f.path).toBe(true);
      expect(code, f.path).toMatch(/\/\/# sourceMappingURL=[^/\s]+\.mjs\.map\s*$/);
      const map = JSON.parse(readFileSync(`${f.path}.map`, 'utf8')) as { sourcesContent?: unknown };
      expect(map.sourcesContent, f.path).toBeUndefined();
    }
  });
});

/** A module loader hook that prints every file the process loads (`LOADED <url>` on stderr), and its registration for `--import`. */
function writeLoadTracer(into: string): string {
  writeFileSync(join(into, 'trace-hooks.mjs'), 'export async function load(url, context, next) {\n  if (url.startsWith("file:")) process.stderr.write(`LOADED ${url}\\n`);\n  return next(url, context);\n}\n');
  writeFileSync(join(into, 'trace.mjs'), "import { register } from 'node:module';\nregister('./trace-hooks.mjs', import.meta.url);\n");
  return join(into, 'trace.mjs');
}

describe('the built entry', () => {
  it('imports in a plain node and answers an empty batch in the deployed environment, loading exactly the files marked loaded at start', async () => {
    const script = `
      const { handler } = await import(${JSON.stringify(pathToFileURL(bundle.entry).href)});
      const context = { functionName: 'test', functionVersion: '$LATEST', invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:test',
        memoryLimitInMB: '512', awsRequestId: 'test', logGroupName: 'test', logStreamName: 'test', callbackWaitsForEmptyEventLoop: false, getRemainingTimeInMillis: () => 60000 };
      process.stdout.write('RESULT ' + JSON.stringify(await handler({ Records: [] }, context)) + '\\n');
    `;
    // The deployed function's environment (bench/coldInit.ts): the worker wires the event bus, the relay-state table and the payload bucket.
    const env = { PATH: process.env['PATH'] ?? '', ...PROBE_ENV };
    const args = ['--import', pathToFileURL(writeLoadTracer(dir)).href, '--input-type=module', '-e', script];
    const { stdout, stderr } = await promisify(execFile)(process.execPath, args, { env, cwd: dir, timeout: 30_000 });
    const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
    expect(line, stdout + stderr).toBeDefined();
    expect(JSON.parse(line!.slice('RESULT '.length))).toEqual({ batchItemFailures: [] });
    const loaded = stderr.split('\n').filter((l) => l.startsWith('LOADED ')).map((l) => fileURLToPath(l.slice('LOADED '.length)));
    expect(loaded.sort()).toEqual(bundle.files.filter((f) => f.atStart).map((f) => f.path).sort());
  });
});

describe('authHookEntry', () => {
  it('is bundled in place of #auth-hook, loaded at start', () => {
    const input = `test/infra/fixtures/authHook.ts`;
    expect(hooked.files.filter((f) => f.inputs.includes(input)).map((f) => f.atStart)).toEqual([true]);
    expect(readFileSync(hooked.entry, 'utf8')).toContain('fixture-auth-hook-marker-');
    expect(bundle.files.some((f) => f.inputs.includes(input))).toBe(false);
    expect(bundle.files.some((f) => f.inputs.includes('lambda/handlers/noAuthHook.ts'))).toBe(true);
    expect(hooked.files.some((f) => f.inputs.includes('lambda/handlers/noAuthHook.ts'))).toBe(false);
  });
});

describe('the stack', () => {
  it('deploys this bundle: index.handler, the same index.mjs and chunks', () => {
    const synth = synthApp({ Real: { entry: RELAY_HANDLER_SOURCE } }, { cloudFormationValidation: false });
    try {
      const stack = synth.stacks['Real']!;
      const fn = (synth.template('Real').toJSON() as { Resources: Record<string, { Properties: { Handler: string; Code: { S3Key: string } } }> }).Resources[logicalId(stack.relayFunction.function)]!;
      expect(fn.Properties.Handler).toBe('index.handler');
      const asset = join(synth.outdir, `asset.${fn.Properties.Code.S3Key.replace(/\.zip$/, '')}`);
      const deployed = [RELAY_BUNDLE_ENTRY, ...readdirSync(join(asset, RELAY_BUNDLE_CHUNKS)).filter((f) => f.endsWith('.mjs')).map((f) => `${RELAY_BUNDLE_CHUNKS}/${f}`)];
      // Same inputs and options, same content hashes in the chunk names.
      expect(deployed.sort()).toEqual(bundle.files.map((f) => relative(join(dir, 'plain'), f.path)).sort());
      expect(readFileSync(join(asset, RELAY_BUNDLE_ENTRY), 'utf8')).toBe(readFileSync(bundle.entry, 'utf8'));
    } finally {
      synth.cleanup();
    }
  });
});
