/**
 * Cold init, each sample in a fresh `node` process (no tsx): the time to import the module and
 * then do its first piece of work. Variants run interleaved, `runs` times each. The bundles are
 * split (infra/relayBundle.ts): the probe imports the entry, `index.mjs`, which loads the chunks it
 * imports statically; chunks behind a dynamic import are not loaded unless the first work runs them.
 */
import { fork } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { stat, type Stat } from './analyze.js';
import type { BenchBuild } from './build.js';

export interface ColdInitVariant {
  readonly id: string;
  readonly label: string;
  readonly module: string;
  readonly kind: 'handler' | 'bare';
  readonly execArgv: readonly string[];
}

export interface ColdInitResult {
  readonly id: string;
  readonly label: string;
  /** `await import(module)`. */
  readonly importMs: Stat;
  /** The first piece of work after the import: the handler's first (empty) invocation, or constructing the clients. */
  readonly initMs: Stat;
  /** import + first work: the part of a Lambda cold start the code controls. */
  readonly totalMs: Stat;
  /** From process start (Node's time origin) to ready. */
  readonly processReadyMs: Stat;
  readonly rssMb: Stat;
  /**
   * Handler variants: import + first work ÷ the bare bundle's, paired per round (both sampled
   * back to back), median over rounds: steadier than the ratio of two medians on a busy machine.
   */
  readonly toBare?: Stat;
  /**
   * Handler variants: the fastest sample ÷ the bare bundle's fastest. A busy machine only adds
   * time, so the fastest samples are the closest to an idle one: the steadier figure under load.
   */
  readonly toBareFastest?: number;
}

interface ProbeSample {
  bootMs: number;
  importMs: number;
  initMs: number;
  readyMs: number;
  rssMb: number;
}

export function coldInitVariants(build: BenchBuild): ColdInitVariant[] {
  return [
    { id: 'handler-bundle', label: 'mailrelay handler bundle (as deployed: split, index.mjs imported; no --enable-source-maps)', module: build.handler.path, kind: 'handler', execArgv: [] },
    { id: 'handler-bundle-source-maps', label: 'mailrelay handler bundle with NODE_OPTIONS=--enable-source-maps (opt-in)', module: build.handler.path, kind: 'handler', execArgv: ['--enable-source-maps'] },
    { id: 'bare-bundle', label: 'bare: AWS SDK clients + nodemailer, bundled the same way (split)', module: build.bare.path, kind: 'bare', execArgv: [] },
    { id: 'bare-node-modules', label: 'bare: AWS SDK clients + nodemailer, unbundled from node_modules', module: build.bareUnbundled, kind: 'bare', execArgv: [] },
  ];
}

/**
 * The environment of a probe: the deployed function's, with dummy values of the same shape
 * (nothing is called, no secret is involved), so the first invocation wires what a deployed
 * worker wires: the EventBridge publisher, the DynamoDB relay limiter and route health, the
 * payload store. Plain values are the default stack's own (MAX_RECEIVE_COUNT, the cache TTLs, ...);
 * references (tables, queues, the bus, the bucket) are dummies. test/infra/sharedNames.test.ts
 * fails when the default stack sets a variable this does not, or a plain value that differs.
 */
export const PROBE_ENV = {
  // Set by the stack (infra/constructs/relayFunction.ts and its bind* methods).
  CONFIG_TABLE_NAME: 'probe-config',
  IDEMPOTENCY_TABLE_NAME: 'probe-idempotency',
  RELAY_STATE_TABLE_NAME: 'probe-relay-state',
  QUEUE_URL: 'http://127.0.0.1:9/000000000000/probe',
  DEAD_LETTER_QUEUE_URL: 'http://127.0.0.1:9/000000000000/probe-dlq',
  MAX_RECEIVE_COUNT: '204',
  QUEUE_RETENTION_SECONDS: '345600',
  SECRET_PREFIX: 'mailrelay/',
  EVENT_BUS_NAME: 'arn:aws:events:us-east-1:000000000000:event-bus/probe',
  CONFIG_CACHE_TTL_SECONDS: '60',
  SECRET_CACHE_TTL_SECONDS: '300',
  POWERTOOLS_SERVICE_NAME: 'mailrelay',
  POWERTOOLS_METRICS_NAMESPACE: 'Mailrelay',
  POWERTOOLS_LOG_LEVEL: 'INFO',
  PAYLOAD_BUCKET_NAME: 'probe-payloads',
  // Set by Lambda: the worker derives its payload budget from it (the stack's MemorySize).
  AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512',
  // Set by Lambda from the role; dummies here (nothing is signed: no call is made).
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'probe',
  AWS_SECRET_ACCESS_KEY: 'probe',
  // Lambda runs node24; on Node 20 the SDK would print a support warning during the first work.
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};

function probe(probeScript: string, variant: ColdInitVariant): Promise<ProbeSample> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'], HOME: process.env['HOME'], ...PROBE_ENV };
    const child = fork(probeScript, [pathToFileURL(variant.module).href, variant.kind], { execArgv: [...variant.execArgv], env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    let sample: ProbeSample | undefined;
    child.on('message', (message) => (sample = message as ProbeSample));
    child.on('exit', (code) => {
      if (sample) resolve(sample);
      else reject(new Error(`cold-init probe ${variant.id} exited ${String(code)} without a sample:\n${output.slice(-2000)}`));
    });
  });
}

export async function measureColdInit(build: BenchBuild, runs: number, onSample?: (variant: string, run: number) => void): Promise<ColdInitResult[]> {
  const variants = coldInitVariants(build);
  const samples = new Map<string, ProbeSample[]>(variants.map((v) => [v.id, []]));
  // One discarded probe per variant: the first read of a fresh bundle comes from disk, not the page cache.
  for (const variant of variants) await probe(build.probe, variant);
  for (let run = 0; run < runs; run++) {
    // Rotate the order so no variant always runs right after another.
    for (let i = 0; i < variants.length; i++) {
      const variant = variants[(i + run) % variants.length]!;
      samples.get(variant.id)!.push(await probe(build.probe, variant));
      onSample?.(variant.id, run);
    }
  }
  const bare = samples.get(BARE_BASELINE)!;
  return variants.map((v) => {
    const list = samples.get(v.id)!;
    return {
      id: v.id,
      label: v.label,
      importMs: stat(list.map((s) => s.importMs)),
      initMs: stat(list.map((s) => s.initMs)),
      totalMs: stat(list.map((s) => s.importMs + s.initMs)),
      processReadyMs: stat(list.map((s) => s.readyMs)),
      rssMb: stat(list.map((s) => s.rssMb)),
      ...(v.kind === 'handler' ? { toBare: pairedRatio(list, bare), toBareFastest: fastestRatio(list, bare) } : {}),
    };
  });
}

/** The baseline of the cold-init target (≤ 1.3× the bare bundle). */
export const BARE_BASELINE = 'bare-bundle';

/** The fastest (import + first work) ÷ the baseline's fastest. */
export function fastestRatio(samples: readonly Pick<ProbeSample, 'importMs' | 'initMs'>[], baseline: readonly Pick<ProbeSample, 'importMs' | 'initMs'>[]): number {
  const fastest = (list: readonly Pick<ProbeSample, 'importMs' | 'initMs'>[]): number => Math.min(...list.map((s) => s.importMs + s.initMs));
  return samples.length && baseline.length ? fastest(samples) / fastest(baseline) : 0;
}

/** Per round: (import + first work) ÷ the baseline's in the same round. */
export function pairedRatio(samples: readonly Pick<ProbeSample, 'importMs' | 'initMs'>[], baseline: readonly Pick<ProbeSample, 'importMs' | 'initMs'>[]): Stat {
  const ratios: number[] = [];
  for (let i = 0; i < Math.min(samples.length, baseline.length); i++) {
    const base = baseline[i]!.importMs + baseline[i]!.initMs;
    if (base > 0) ratios.push((samples[i]!.importMs + samples[i]!.initMs) / base);
  }
  return stat(ratios);
}
