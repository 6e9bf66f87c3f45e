/**
 * From raw phase runs to the figures the bench reports: per-run rates, medians with min–max
 * over the interleaved runs, ratios between configurations, and the cost per million messages.
 */
import type { AwsCallCounts } from './awsChild.js';
import type { PhaseMeasurement } from './client.js';
import { WORKER_SHAPE } from './options.js';
import { COST_ASSUMPTIONS, PRICES } from './prices.js';
import type { RelayCounters } from './relayChild.js';
import type { GreetingMode } from './workload.js';

/** `floor`: raw pooled nodemailer plus the worker's idempotency claim before each send (bench/client.ts). */
export type ConfigurationKind = 'worker' | 'pooled' | 'floor' | 'naive-serial' | 'naive-16';

export interface BenchConfiguration {
  /** `worker-r10-no-delay`, `naive-16-r1-delay`, ... */
  readonly id: string;
  readonly kind: ConfigurationKind;
  readonly greeting: GreetingMode;
  readonly routes: number;
  /** Sends in flight at once (the worker: records of a batch in flight). */
  readonly inFlight: number;
  /** Worker: records per invocation (over 10: gathered from several receives). */
  readonly batchSize?: number;
  readonly messages: number;
  readonly warmup: number;
  readonly label: string;
}

/** One timed window of one configuration, with what the relay and the emulators counted in it. */
export interface PhaseRun {
  readonly round: number;
  readonly measurement: PhaseMeasurement;
  readonly relay: RelayCounters;
  readonly aws: AwsCallCounts;
  /** DynamoDB items written (WRU for items under 1 KB). */
  readonly dynamoWriteItems?: number;
  /** The emulators' own time answering, summed per `Service.Operation` (bench/awsChild.ts). */
  readonly awsServiceMs?: Readonly<Record<string, number>>;
}

export interface Stat {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly n: number;
}

export interface RunFigures {
  readonly round: number;
  readonly delivered: number;
  readonly failed: number;
  readonly wallMs: number;
  readonly msgPerSec: number;
  readonly cpuMsPerMsg: number;
  readonly relayCpuMsPerMsg: number;
  readonly connectionsPer100: number;
  readonly authPer100: number;
  readonly commandsPer100: Readonly<Record<string, number>>;
  readonly awsCallsPer100: Readonly<Record<string, number>>;
  readonly writeUnitsPer100: number;
  readonly logBytesPerMsg: number;
  readonly peakRssMb: number;
  readonly relayBytesPerMsg: number;
  readonly handlerCpuMsPerMsg?: number;
  readonly handlerMsPerBatch?: number;
  readonly messagesPerBatch?: number;
  /** Worker: mean wall ms per occurrence of each handler stage (lambda/core/stageTimings.ts). */
  readonly stageMs?: Readonly<Record<string, number>>;
  /** Worker: mean ms per AWS call as the client process saw it, and as the emulator spent answering it. */
  readonly awsClientMsPerCall?: Readonly<Record<string, number>>;
  readonly awsServiceMsPerCall?: Readonly<Record<string, number>>;
  /** Worker: invocation ms with the emulator's DynamoDB time on the invocation's path replaced by the model's round trip ({@link modeledInvocationMs}). */
  readonly modeledInvocationMs?: number;
}

export interface ConfigurationResult extends BenchConfiguration {
  readonly runs: readonly RunFigures[];
  readonly failed: number;
  readonly msgPerSec: Stat;
  readonly cpuMsPerMsg: Stat;
  /** The SMTP relay's own CPU per message (it runs in its own process). */
  readonly relayCpuMsPerMsg: Stat;
  readonly connectionsPer100: Stat;
  readonly authPer100: Stat;
  readonly commandsPer100: Readonly<Record<string, Stat>>;
  readonly awsCallsPer100: Readonly<Record<string, Stat>>;
  /** DynamoDB write request units per 100 messages (items written; each under 1 KB). */
  readonly writeUnitsPer100?: Stat;
  readonly logBytesPerMsg: Stat;
  readonly peakRssMb: Stat;
  /** Size of the message as the relay received it (headers + MIME body). */
  readonly messageBytes: number;
  readonly handlerCpuMsPerMsg?: Stat;
  readonly handlerMsPerBatch?: Stat;
  readonly messagesPerBatch?: Stat;
  readonly stageMs?: Readonly<Record<string, Stat>>;
  readonly awsClientMsPerCall?: Readonly<Record<string, Stat>>;
  readonly awsServiceMsPerCall?: Readonly<Record<string, Stat>>;
  readonly modeledInvocationMs?: Stat;
  /** The DynamoDB round trip the modeled invocation assumes (ms). */
  readonly awsModelMs?: number;
  /** msg/s median ÷ the other configuration's msg/s median (same greeting mode). */
  readonly ratios: {
    readonly toNaiveSerial?: number;
    readonly toNaive16?: number;
    /** Same route count. */
    readonly toPooled?: number;
    /** CPU ms/msg median ÷ the pooled one's (same route count). */
    readonly cpuToPooled?: number;
    /** Worker: CPU ms/msg median ÷ the floor's (same route count and in-flight count). */
    readonly cpuToFloor?: number;
  };
}

export function stat(values: readonly number[]): Stat {
  if (values.length === 0) return { median: 0, min: 0, max: 0, n: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted.at(-1)!, n: sorted.length };
}

const per100 = (count: number, messages: number): number => (messages > 0 ? (count * 100) / messages : 0);

/** DynamoDB's typical latency per call (ms), the model for a loopback run: in-region, single-digit milliseconds. */
export const DEFAULT_AWS_MODEL_MS = 4;

/**
 * The invocation without the emulator's latency: each wave of records in flight waits for its
 * claims, and the batch for its settle write, so those are on the invocation's path; each is
 * replaced by one round trip of `modelMs`. An approximation: it takes the mean claim where the
 * slowest of a wave is on the path, so with dynalite (which answers one call at a time) it
 * removes less than the emulator added — the modeled time errs long.
 */
export function modeledInvocationMs(invocationMs: number, stageMs: Readonly<Record<string, number>>, recordsPerBatch: number, inFlight: number, modelMs: number): number {
  const waves = Math.ceil(recordsPerBatch / Math.max(1, inFlight));
  const claim = stageMs['claim'];
  const settle = stageMs['settle'];
  let modeled = invocationMs;
  if (claim !== undefined) modeled -= waves * (claim - modelMs);
  if (settle !== undefined) modeled -= settle - modelMs;
  return Math.max(0, modeled);
}

const meanOf = (timings: Readonly<Record<string, { ms: number; count: number }>> | undefined): Record<string, number> =>
  Object.fromEntries(Object.entries(timings ?? {}).map(([name, t]) => [name, t.count > 0 ? t.ms / t.count : 0]));

export function runFigures(run: PhaseRun, inFlight = 10, awsModelMs = DEFAULT_AWS_MODEL_MS): RunFigures {
  const m = run.measurement;
  const n = m.delivered;
  const commandsPer100: Record<string, number> = {};
  for (const [verb, count] of Object.entries(run.relay.commands)) commandsPer100[verb] = per100(count, n);
  const awsCallsPer100: Record<string, number> = {};
  for (const [call, count] of Object.entries(run.aws)) awsCallsPer100[call] = per100(count, n);
  return {
    round: run.round,
    delivered: n,
    failed: m.failed,
    wallMs: m.wallMs,
    msgPerSec: m.wallMs > 0 ? (n * 1000) / m.wallMs : 0,
    cpuMsPerMsg: n > 0 ? m.cpuMs / n : 0,
    relayCpuMsPerMsg: n > 0 ? run.relay.cpuMs / n : 0,
    connectionsPer100: per100(run.relay.connections, n),
    authPer100: per100(run.relay.commands['AUTH'] ?? 0, n),
    commandsPer100,
    awsCallsPer100,
    writeUnitsPer100: per100(run.dynamoWriteItems ?? 0, n),
    logBytesPerMsg: n > 0 ? m.logBytes / n : 0,
    peakRssMb: m.peakRssMb,
    relayBytesPerMsg: run.relay.messages > 0 ? run.relay.bytes / run.relay.messages : 0,
    ...(m.invocations
      ? {
          handlerCpuMsPerMsg: n > 0 ? (m.handlerCpuMs ?? 0) / n : 0,
          handlerMsPerBatch: (m.handlerMs ?? 0) / m.invocations,
          messagesPerBatch: n / m.invocations,
          ...(m.stages
            ? {
                stageMs: meanOf(m.stages),
                awsClientMsPerCall: meanOf(m.awsCalls),
                awsServiceMsPerCall: Object.fromEntries(Object.entries(run.awsServiceMs ?? {}).map(([call, ms]) => [call, ms / Math.max(1, run.aws[call] ?? 0)])),
                modeledInvocationMs: modeledInvocationMs((m.handlerMs ?? 0) / m.invocations, meanOf(m.stages), n / m.invocations, inFlight, awsModelMs),
              }
            : {}),
        }
      : {}),
  };
}

function statOfKeys(runs: readonly RunFigures[], pick: (run: RunFigures) => Readonly<Record<string, number>>): Record<string, Stat> {
  const keys = new Set(runs.flatMap((r) => Object.keys(pick(r))));
  const out: Record<string, Stat> = {};
  for (const key of [...keys].sort()) out[key] = stat(runs.map((r) => pick(r)[key] ?? 0));
  return out;
}

function optionalStat(runs: readonly RunFigures[], pick: (run: RunFigures) => number | undefined): Stat | undefined {
  const values = runs.map(pick).filter((v): v is number => v !== undefined);
  return values.length ? stat(values) : undefined;
}

/** Summarize each configuration's runs, then relate the configurations to each other. */
export function summarize(configurations: readonly BenchConfiguration[], runs: ReadonlyMap<string, readonly PhaseRun[]>, options: { awsModelMs?: number } = {}): ConfigurationResult[] {
  const awsModelMs = options.awsModelMs || DEFAULT_AWS_MODEL_MS;
  const base = configurations.map((config) => {
    const figures = (runs.get(config.id) ?? []).map((run) => runFigures(run, config.inFlight, awsModelMs));
    const modeled = optionalStat(figures, (r) => r.modeledInvocationMs);
    const handlerCpuMsPerMsg = optionalStat(figures, (r) => r.handlerCpuMsPerMsg);
    const handlerMsPerBatch = optionalStat(figures, (r) => r.handlerMsPerBatch);
    const messagesPerBatch = optionalStat(figures, (r) => r.messagesPerBatch);
    return {
      ...config,
      runs: figures,
      failed: figures.reduce((sum, r) => sum + r.failed, 0),
      msgPerSec: stat(figures.map((r) => r.msgPerSec)),
      cpuMsPerMsg: stat(figures.map((r) => r.cpuMsPerMsg)),
      relayCpuMsPerMsg: stat(figures.map((r) => r.relayCpuMsPerMsg)),
      connectionsPer100: stat(figures.map((r) => r.connectionsPer100)),
      authPer100: stat(figures.map((r) => r.authPer100)),
      commandsPer100: statOfKeys(figures, (r) => r.commandsPer100),
      awsCallsPer100: statOfKeys(figures, (r) => r.awsCallsPer100),
      ...(config.kind === 'worker' ? { writeUnitsPer100: stat(figures.map((r) => r.writeUnitsPer100)) } : {}),
      logBytesPerMsg: stat(figures.map((r) => r.logBytesPerMsg)),
      peakRssMb: stat(figures.map((r) => r.peakRssMb)),
      messageBytes: stat(figures.map((r) => r.relayBytesPerMsg)).median,
      ...(handlerCpuMsPerMsg ? { handlerCpuMsPerMsg } : {}),
      ...(handlerMsPerBatch ? { handlerMsPerBatch } : {}),
      ...(messagesPerBatch ? { messagesPerBatch } : {}),
      ...(modeled
        ? {
            stageMs: statOfKeys(figures, (r) => r.stageMs ?? {}),
            awsClientMsPerCall: statOfKeys(figures, (r) => r.awsClientMsPerCall ?? {}),
            awsServiceMsPerCall: statOfKeys(figures, (r) => r.awsServiceMsPerCall ?? {}),
            modeledInvocationMs: modeled,
            awsModelMs,
          }
        : {}),
    };
  });
  const find = (kind: ConfigurationKind, greeting: GreetingMode, routes?: number) =>
    base.find((c) => c.kind === kind && c.greeting === greeting && (routes === undefined || c.routes === routes));
  const ratio = (a: number, b: number | undefined): number | undefined => (b && b > 0 ? a / b : undefined);
  // The baseline of the same greeting and routes, the same in-flight count when there is one.
  const sibling = (kind: ConfigurationKind, c: (typeof base)[number]) =>
    base.find((p) => p.kind === kind && p.greeting === c.greeting && p.routes === c.routes && p.inFlight === c.inFlight) ?? find(kind, c.greeting, c.routes);
  return base.map((c) => {
    if (c.kind !== 'worker' && c.kind !== 'pooled' && c.kind !== 'floor') return { ...c, ratios: {} };
    const pooled = c.kind === 'pooled' ? undefined : sibling('pooled', c);
    const floor = c.kind === 'worker' ? sibling('floor', c) : undefined;
    const ratios = {
      toNaiveSerial: ratio(c.msgPerSec.median, find('naive-serial', c.greeting)?.msgPerSec.median),
      toNaive16: ratio(c.msgPerSec.median, find('naive-16', c.greeting)?.msgPerSec.median),
      toPooled: ratio(c.msgPerSec.median, pooled?.msgPerSec.median),
      cpuToPooled: ratio(c.cpuMsPerMsg.median, pooled?.cpuMsPerMsg.median),
      cpuToFloor: ratio(c.cpuMsPerMsg.median, floor?.cpuMsPerMsg.median),
    };
    return { ...c, ratios: Object.fromEntries(Object.entries(ratios).filter(([, v]) => v !== undefined)) };
  });
}

export interface CostEstimate {
  readonly configuration: string;
  readonly greeting: GreetingMode;
  readonly routes: number;
  readonly inputs: {
    readonly messagesPerInvocation: number;
    readonly invocationMs: number;
    /** invocationMs with the handler's CPU time stretched to 512 MB's share of a vCPU. */
    readonly invocationMsCpuScaled: number;
    /** invocationMs with the emulator's DynamoDB time replaced by the model's round trip, when measured. */
    readonly invocationMsModeled?: number;
    readonly sqsRequestsPerMsg: number;
    readonly dynamoWriteUnitsPerMsg: number;
    readonly dynamoReadUnitsPerMsg: number;
    readonly secretsManagerCallsPerMsg: number;
    readonly logBytesPerMsg: number;
  };
  /** US dollars per million messages. */
  readonly perMillion: {
    readonly lambdaRequests: number;
    readonly lambdaDuration: number;
    readonly lambdaDurationCpuScaled: number;
    readonly sqs: number;
    readonly dynamodb: number;
    readonly secretsManager: number;
    /** Delivery events put on the bus (PutEvents is billed per event, not per call). */
    readonly eventBridge: number;
    readonly cloudWatchLogs: number;
    readonly total: number;
    readonly totalCpuScaled: number;
    /** Lambda duration from invocationMsModeled, and the total with it. */
    readonly lambdaDurationModeled?: number;
    readonly totalModeled?: number;
    readonly ses: number;
  };
}

const MILLION = 1_000_000;

/** Cost per million messages of a worker configuration, from its medians and PRICES. */
export function estimateCost(result: ConfigurationResult): CostEstimate | undefined {
  if (result.kind !== 'worker' || !result.messagesPerBatch || !result.handlerMsPerBatch || !result.handlerCpuMsPerMsg) return undefined;
  const calls = (prefix: string, operations?: readonly string[]): number =>
    Object.entries(result.awsCallsPer100)
      .filter(([key]) => key.startsWith(`${prefix}.`) && (!operations || operations.includes(key.slice(prefix.length + 1))))
      .reduce((sum, [, s]) => sum + s.median, 0) / 100;
  const messagesPerInvocation = result.messagesPerBatch.median;
  const invocationMs = result.handlerMsPerBatch.median;
  const cpuMsPerInvocation = result.handlerCpuMsPerMsg.median * messagesPerInvocation;
  const vcpuShare = WORKER_SHAPE.memoryMb / COST_ASSUMPTIONS.fullVcpuMemoryMb;
  const invocationMsCpuScaled = invocationMs + cpuMsPerInvocation * (1 / vcpuShare - 1);
  const invocations = MILLION / messagesPerInvocation;
  const gb = WORKER_SHAPE.memoryMb / 1024;
  const sqsRequestsPerMsg = calls('SQS') + 1 / COST_ASSUMPTIONS.producerMessagesPerSendRequest;
  // Items written, counted at the emulator (a BatchWriteItem of 10 puts is 10 WRU, not 1).
  const dynamoWriteUnitsPerMsg = ((result.writeUnitsPer100?.median ?? 0) / 100) * COST_ASSUMPTIONS.writeUnitsPerWrite;
  const dynamoReadUnitsPerMsg = calls('DynamoDB', ['GetItem']) * COST_ASSUMPTIONS.readUnitsPerGet + calls('DynamoDB', ['BatchGetItem']) * COST_ASSUMPTIONS.readUnitsPerBatchGet;
  const secretsManagerCallsPerMsg = calls('SecretsManager');
  const logBytesPerMsg = result.logBytesPerMsg.median + COST_ASSUMPTIONS.lambdaPlatformLogBytesPerInvocation / messagesPerInvocation;

  const lambdaRequests = invocations * PRICES.lambdaPerRequest;
  const lambdaDuration = invocations * (invocationMs / 1000) * gb * PRICES.lambdaArmPerGbSecond;
  const lambdaDurationCpuScaled = invocations * (invocationMsCpuScaled / 1000) * gb * PRICES.lambdaArmPerGbSecond;
  const sqs = MILLION * sqsRequestsPerMsg * PRICES.sqsPerRequest;
  const dynamodb = MILLION * (dynamoWriteUnitsPerMsg * PRICES.dynamoPerWriteUnit + dynamoReadUnitsPerMsg * PRICES.dynamoPerReadUnit);
  const secretsManager = MILLION * secretsManagerCallsPerMsg * PRICES.secretsManagerPerCall + MILLION * calls('SSM') * PRICES.ssmPerCall;
  const cloudWatchLogs = ((MILLION * logBytesPerMsg) / 1e9) * PRICES.cloudWatchLogsPerGb;
  const eventBridge = calls('EventBridge') > 0 ? MILLION * COST_ASSUMPTIONS.deliveryEventsPerMessage * PRICES.eventBridgePerEvent : 0;
  const rest = lambdaRequests + sqs + dynamodb + secretsManager + eventBridge + cloudWatchLogs;
  const invocationMsModeled = result.modeledInvocationMs?.median;
  const lambdaDurationModeled = invocationMsModeled === undefined ? undefined : invocations * (invocationMsModeled / 1000) * gb * PRICES.lambdaArmPerGbSecond;
  return {
    configuration: result.id,
    greeting: result.greeting,
    routes: result.routes,
    inputs: { messagesPerInvocation, invocationMs, invocationMsCpuScaled, ...(invocationMsModeled === undefined ? {} : { invocationMsModeled }), sqsRequestsPerMsg, dynamoWriteUnitsPerMsg, dynamoReadUnitsPerMsg, secretsManagerCallsPerMsg, logBytesPerMsg },
    perMillion: {
      lambdaRequests,
      lambdaDuration,
      lambdaDurationCpuScaled,
      sqs,
      dynamodb,
      secretsManager,
      eventBridge,
      cloudWatchLogs,
      total: rest + lambdaDuration,
      totalCpuScaled: rest + lambdaDurationCpuScaled,
      ...(lambdaDurationModeled === undefined ? {} : { lambdaDurationModeled, totalModeled: rest + lambdaDurationModeled }),
      ses: MILLION * PRICES.sesPerMessage,
    },
  };
}
