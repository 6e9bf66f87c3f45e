/**
 * The stack and the worker agree on their shared names (lambda/core/names.ts): the environment
 * the stack sets is one the worker accepts, every variable is one the worker reads, and every
 * metric the dashboard and the alarms read in the worker's namespace is one the worker emits; and
 * the bench's cold-init probe (bench/coldInit.ts) runs the worker with the environment deployed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROBE_ENV } from '../../bench/coldInit.js';
import { DEFAULT_METRICS_NAMESPACE, METRIC, STACK_OUTPUT, WORKER_ENV } from '../../lambda/core/names.js';
import { readSettings } from '../../lambda/worker/settings.js';
import { logicalId, synthMailrelay, type SynthesizedMailrelay } from './helpers.js';

let synth: SynthesizedMailrelay;

beforeAll(() => {
  synth = synthMailrelay();
});

afterAll(() => synth.cleanup());

/** The plain strings of a template value: references become a placeholder string. */
function resolved(value: unknown): string {
  return typeof value === 'string' ? value : 'from-the-stack';
}

describe('names shared by the worker and the stack', () => {
  it('the stack writes the outputs `mailrelay --stack` reads, under the names the CLI looks for', () => {
    const outputs = Object.keys(synth.template.toJSON().Outputs as Record<string, unknown>);
    const known: readonly string[] = Object.values(STACK_OUTPUT);
    expect(outputs.filter((name) => !known.includes(name))).toEqual([]);
    expect(outputs).toEqual(expect.arrayContaining([STACK_OUTPUT.queueUrl, STACK_OUTPUT.deadLetterQueueUrl, STACK_OUTPUT.configTableName, STACK_OUTPUT.idempotencyTableName]));
  });

  it('the function environment is one the worker reads and accepts', () => {
    const fn = synth.template.toJSON().Resources[logicalId(synth.stack.relayFunction.function)];
    const variables = fn.Properties.Environment.Variables as Record<string, unknown>;
    const workerNames: readonly string[] = Object.values(WORKER_ENV);
    const unknown = Object.keys(variables).filter((name) => !workerNames.includes(name) && name !== 'NODE_OPTIONS');
    expect(unknown).toEqual([]);
    const env = Object.fromEntries(Object.entries(variables).map(([name, value]) => [name, resolved(value)]));
    const settings = readSettings(env);
    expect(settings.configTableName).toBe('from-the-stack');
    expect(settings.maxReceiveCount).toBe(204);
  });

  it("the cold-init probe sets every variable the default stack sets, and the stack's plain values, so it measures the deployed wiring", () => {
    // Prepare
    const fn = synth.template.toJSON().Resources[logicalId(synth.stack.relayFunction.function)];
    const variables = fn.Properties.Environment.Variables as Record<string, unknown>;
    const probe: Record<string, string> = PROBE_ENV;

    // Assess
    // No exceptions: every variable the default stack sets changes what the first invocation wires.
    expect(Object.keys(variables).filter((name) => !(name in probe))).toEqual([]);
    // Plain values (counts, TTLs, names) are the stack's own; references (tables, queues, the bus, the bucket) are dummies.
    const plain = Object.entries(variables).filter((entry): entry is [string, string] => typeof entry[1] === 'string');
    expect(plain.length).toBeGreaterThan(0);
    expect(Object.fromEntries(plain.map(([name]) => [name, probe[name]]))).toEqual(Object.fromEntries(plain));
    // Lambda sets the function's memory, from which the worker derives its payload budget.
    expect(probe[WORKER_ENV.functionMemorySize]).toBe(String(fn.Properties.MemorySize));
    expect(readSettings(PROBE_ENV).eventBusName).toBe(PROBE_ENV.EVENT_BUS_NAME);
  });

  it('every metric the dashboard and alarms read in the worker namespace is one the worker emits', () => {
    const text = JSON.stringify(synth.template.toJSON());
    const emitted: readonly string[] = Object.values(METRIC);
    // Dashboard widgets: ["Mailrelay","Delivered",...] inside the body string (escaped quotes).
    const inDashboard = [...text.matchAll(new RegExp(`\\\\"${DEFAULT_METRICS_NAMESPACE}\\\\",\\\\"(\\w+)\\\\"`, 'g'))].map((m) => m[1]!);
    const alarms = Object.values(synth.template.findResources('AWS::CloudWatch::Alarm')) as { Properties: { Namespace?: string; MetricName?: string } }[];
    const inAlarms = alarms.filter((a) => a.Properties.Namespace === DEFAULT_METRICS_NAMESPACE).map((a) => a.Properties.MetricName!);
    expect(inDashboard.length).toBeGreaterThan(0);
    expect(inAlarms.length).toBeGreaterThan(0);
    expect([...new Set([...inDashboard, ...inAlarms])].filter((name) => !emitted.includes(name))).toEqual([]);
  });
});
