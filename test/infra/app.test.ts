import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../infra/constants.js';
import { FIXTURE_ENTRY, cdkJsonContext } from './helpers.js';

const run = promisify(execFile);

interface AppRun {
  readonly code: number;
  readonly stderr: string;
}

/**
 * Runs `infra/app.ts` the way the CDK CLI does (`cdk synth` sets CDK_OUTDIR
 * and passes cdk.json's context plus `-c` values in CDK_CONTEXT_JSON),
 * offline, without the CLI's own start-up time.
 */
async function runApp(outdir: string, context: Record<string, unknown>): Promise<AppRun> {
  try {
    const { stderr } = await run(process.execPath, ['--import', 'tsx', 'infra/app.ts'], {
      cwd: REPO_ROOT,
      timeout: 60_000,
      env: {
        ...process.env,
        CDK_OUTDIR: outdir,
        CDK_CONTEXT_JSON: JSON.stringify({ ...cdkJsonContext(), ...context }),
        // The stack file's tests run CDK's template validation already; skip it here to save seconds.
        CDK_VALIDATION: 'false',
      },
    });
    return { code: 0, stderr };
  } catch (error) {
    const failure = error as { code?: number; stderr?: string };
    return { code: failure.code ?? -1, stderr: failure.stderr ?? '' };
  }
}

describe('infra/app.ts', () => {
  let outdir: string;

  beforeAll(() => {
    outdir = mkdtempSync(join(tmpdir(), 'mailrelay-app-'));
  });

  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  it('synthesizes the stack offline, with the entry and settings taken from context', async () => {
    // Act
    const result = await runApp(join(outdir, 'ok'), { entry: FIXTURE_ENTRY, stackName: 'MailrelayTest', batchSize: '20', maxBatchingWindowSeconds: '2' });

    // Assess
    expect(result).toMatchObject({ code: 0 });
    const templatePath = join(outdir, 'ok', 'MailrelayTest.template.json');
    expect(existsSync(templatePath)).toBe(true);
    const template = JSON.parse(readFileSync(templatePath, 'utf8')) as { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };
    const mapping = Object.values(template.Resources).find((resource) => resource.Type === 'AWS::Lambda::EventSourceMapping');
    expect(mapping?.Properties).toMatchObject({ BatchSize: 20, MaximumBatchingWindowInSeconds: 2 });
  });

  it('exits 1 with the one-line reason on a misconfiguration', async () => {
    // Act
    const result = await runApp(join(outdir, 'bad'), { entry: FIXTURE_ENTRY, batchSize: '20' });

    // Assess
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(
      'mailrelay: invalid batchSize: 20 is above 10, which the SQS event source only accepts with a maxBatchingWindow of at least 1 second',
    );
  });
});
