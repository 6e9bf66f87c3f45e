import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, Stack, Validations, type PolicyValidationPluginReport } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { REPO_ROOT } from '../../infra/constants.js';
import { MailrelayStack, type MailrelayStackProps } from '../../infra/mailrelayStack.js';

/** A two-line stand-in for the worker: bundling it takes milliseconds. */
export const FIXTURE_ENTRY = fileURLToPath(new URL('./fixtures/handler.ts', import.meta.url));

/** The feature flags of cdk.json, so the tests synthesize what `cdk synth` does. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(join(REPO_ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> };
  return cdkJson.context;
}

/** A synthesized app with mailrelay stacks, as `infra/app.ts` builds it (cdk-nag included). */
export interface SynthesizedApp {
  readonly app: App;
  /** The stacks, by construct id. */
  readonly stacks: Record<string, MailrelayStack>;
  /** The cloud assembly directory (a temporary directory). */
  readonly outdir: string;
  /** The template of one of the stacks. */
  readonly template: (id: string) => Template;
  /** Removes the cloud assembly. */
  readonly cleanup: () => void;
}

/** How {@link synthApp} synthesizes. */
export interface SynthOptions {
  /**
   * Run CDK's built-in CloudFormation template validation, as `cdk synth`
   * does. It costs about 3 seconds per stack, so files that synthesize many
   * variants leave it to the file that checks the default stack.
   * @default true
   */
  readonly cloudFormationValidation?: boolean;
}

/** Props of one stack, or a function building them (and other stacks they need) in the app. */
export type StackSetup = MailrelayStackProps | ((app: App) => MailrelayStackProps);

/**
 * Builds the stacks in one fresh app writing to a temporary directory, with
 * the AwsSolutions checks registered as `infra/app.ts` does, and synthesizes
 * it once: synth throws if cdk-nag reports any finding that is not
 * acknowledged. Every stack bundles {@link FIXTURE_ENTRY} unless told otherwise.
 */
export function synthApp(setups: Record<string, StackSetup>, options: SynthOptions = {}): SynthesizedApp {
  const outdir = mkdtempSync(join(tmpdir(), 'mailrelay-cdk-'));
  const app = new App({
    outdir,
    context: cdkJsonContext(),
    builtinCloudFormationValidation: options.cloudFormationValidation ?? true,
  });
  const stacks: Record<string, MailrelayStack> = {};
  for (const [id, setup] of Object.entries(setups)) {
    const props = typeof setup === 'function' ? setup(app) : setup;
    stacks[id] = new MailrelayStack(app, id, { entry: FIXTURE_ENTRY, ...props });
  }
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  app.synth();
  const templates = new Map<string, Template>();
  return {
    app,
    stacks,
    outdir,
    template: (id) => {
      const stack = stacks[id];
      if (!stack) throw new Error(`no stack ${id}`);
      const template = templates.get(id) ?? Template.fromStack(stack);
      templates.set(id, template);
      return template;
    },
    cleanup: () => rmSync(outdir, { recursive: true, force: true }),
  };
}

/** One stack with id `Mailrelay`, synthesized by {@link synthApp}. */
export interface SynthesizedMailrelay {
  readonly app: App;
  readonly stack: MailrelayStack;
  readonly template: Template;
  readonly outdir: string;
  readonly cleanup: () => void;
}

/** {@link synthApp} with the single stack `Mailrelay`. */
export function synthMailrelay(props: MailrelayStackProps = {}): SynthesizedMailrelay {
  const synth = synthApp({ Mailrelay: props });
  const stack = synth.stacks.Mailrelay as MailrelayStack;
  return { app: synth.app, stack, template: synth.template('Mailrelay'), outdir: synth.outdir, cleanup: synth.cleanup };
}

/** Runs the AwsSolutions pack directly on a construct tree and returns its report. */
export function nagReport(scope: IConstruct): PolicyValidationPluginReport {
  return new AwsSolutionsChecks().validateScope(scope);
}

/** Every rule acknowledged in the tree, with its reason. */
export function acknowledgedRules(scope: IConstruct): Record<string, string> {
  const rules: Record<string, string> = {};
  for (const construct of scope.node.findAll()) {
    for (const entry of construct.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
      for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) {
        rules[`${construct.node.path} ${id.replace(/^annotation::/i, '')}`] = reason;
      }
    }
  }
  return rules;
}

/** All IAM policy statements of a template, flattened. */
export function policyStatements(template: Template): Array<Record<string, unknown>> {
  return Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
    (policy) => (policy as { Properties: { PolicyDocument: { Statement: Array<Record<string, unknown>> } } }).Properties.PolicyDocument.Statement,
  );
}

/** The statements of the worker role's policy. */
export function rolePolicyStatements(template: Template, stack: MailrelayStack): Array<Record<string, unknown>> {
  const policies = template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: logicalId(stack.relayFunction.role) }] } });
  return Object.values(policies).flatMap(
    (policy) => (policy as { Properties: { PolicyDocument: { Statement: Array<Record<string, unknown>> } } }).Properties.PolicyDocument.Statement,
  );
}

/** A template as JSON with asset hashes and paths replaced, so a snapshot does not change when the bundle does. */
export function normalizedTemplate(template: Template): unknown {
  const json = JSON.stringify(template.toJSON())
    .replace(/[a-f0-9]{64}(\.zip)?/g, (_match, zip: string | undefined) => `<asset-hash>${zip ?? ''}`)
    .replace(/"aws:asset:path":"[^"]*"/g, '"aws:asset:path":"<asset-path>"');
  return JSON.parse(json);
}

/** The error `fn` throws (fails the test when it does not). */
export function thrownBy(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    if (error instanceof Error) return error;
    throw new Error(`threw a non-Error: ${String(error)}`, { cause: error });
  }
  throw new Error('expected an error, but nothing was thrown');
}

/** The logical id of a construct's CloudFormation resource. */
export function logicalId(construct: IConstruct): string {
  const stack = Stack.of(construct);
  return stack.getLogicalId(construct.node.defaultChild as never);
}
