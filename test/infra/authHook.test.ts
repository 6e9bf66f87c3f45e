/**
 * The auth hook in the stack (docs/auth-hook.md): the module is bundled into the function by the
 * same esbuild build, the bounds reach the worker's environment, and lambda:InvokeFunction is
 * granted on exactly the function ARNs given, nothing wider.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveMailrelayProps } from '../../infra/mailrelayStackProps.js';
import { MailrelayPropsError } from '../../infra/errors.js';
import { policyStatements, synthApp, thrownBy, type SynthesizedApp } from './helpers.js';

const HOOKED_ENTRY = fileURLToPath(new URL('./fixtures/hookedHandler.ts', import.meta.url));
const HOOK_ENTRY = fileURLToPath(new URL('./fixtures/authHook.ts', import.meta.url));
const FN_A = 'arn:aws:lambda:eu-west-1:123456789012:function:tenant-auth';
const FN_B = 'arn:aws:lambda:eu-west-1:123456789012:function:other-auth:live';

let synth: SynthesizedApp;
beforeAll(() => {
  synth = synthApp(
    {
      Hooked: { entry: HOOKED_ENTRY, authHook: { entry: HOOK_ENTRY, timeout: Duration.millis(1500), cacheTtl: Duration.seconds(30), cacheSize: 50 }, authHookFunctionArns: [FN_A, FN_B] },
      Plain: { entry: HOOKED_ENTRY },
    },
    { cloudFormationValidation: false },
  );
});
afterAll(() => synth.cleanup());

/** The text of every bundled .mjs/.js file of the stack's function asset, chunks included. */
function bundleOf(stackId: string): string {
  const template = synth.template(stackId).toJSON() as { Resources: Record<string, { Type: string; Properties: { Code?: { S3Key?: string } } }> };
  const fn = Object.values(template.Resources).find((r) => r.Type === 'AWS::Lambda::Function')!;
  const hash = fn.Properties.Code!.S3Key!.replace(/\.zip$/, '');
  const dir = join(synth.outdir, `asset.${hash}`);
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.m?js$/.test(f) && statSync(join(dir, f)).isFile())
    .map((f) => readFileSync(join(dir, f), 'utf8'))
    .join('\n');
}

describe('module hook', () => {
  it('is bundled in place of #auth-hook; without authHook the no-hook module is', () => {
    expect(bundleOf('Hooked')).toContain('fixture-auth-hook-marker-');
    expect(bundleOf('Plain')).not.toContain('fixture-auth-hook-marker-');
  });

  it('passes its bounds to the worker', () => {
    synth.template('Hooked').hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ AUTH_HOOK_TIMEOUT_MS: '1500', AUTH_HOOK_CACHE_TTL_SECONDS: '30', AUTH_HOOK_CACHE_SIZE: '50' }) },
    });
  });
});

describe('function hooks', () => {
  it('grants lambda:InvokeFunction on exactly the ARNs given', () => {
    const invoke = policyStatements(synth.template('Hooked')).filter((s) => [s.Action].flat().some((a) => String(a).startsWith('lambda:')));
    expect(invoke).toHaveLength(1);
    expect(invoke[0]).toMatchObject({ Sid: 'InvokeAuthHookFunctions', Action: 'lambda:InvokeFunction', Effect: 'Allow', });
    expect([invoke[0]!.Resource].flat().sort()).toEqual([FN_A, FN_B].sort());
  });

  it('grants no lambda action without them', () => {
    const lambda = policyStatements(synth.template('Plain')).filter((s) => [s.Action].flat().some((a) => String(a).startsWith('lambda:')));
    expect(lambda).toEqual([]);
  });

  it('refuses a wildcard or a non-function ARN, and a missing entry, naming the prop', () => {
    const wildcard = thrownBy(() => resolveMailrelayProps({ authHookFunctionArns: ['arn:aws:lambda:eu-west-1:123456789012:function:*'] }));
    expect(wildcard).toBeInstanceOf(MailrelayPropsError);
    expect((wildcard as Error).message).toContain('authHookFunctionArns[0]');
    const notLambda = thrownBy(() => resolveMailrelayProps({ authHookFunctionArns: [FN_A, 'arn:aws:sqs:eu-west-1:123456789012:q'] }));
    expect((notLambda as Error).message).toContain('authHookFunctionArns[1]');
    const missing = thrownBy(() => resolveMailrelayProps({ authHook: { entry: 'no/such/hook.ts' } }));
    expect((missing as Error).message).toContain('authHook.entry');
    const slow = thrownBy(() => resolveMailrelayProps({ authHook: { timeout: Duration.minutes(5) } }));
    expect((slow as Error).message).toContain('authHook.timeout');
  });
});
