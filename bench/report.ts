/**
 * The bench's tables, rendered for the terminal (aligned text) or for docs/performance.md (Markdown).
 */
import type { BundleInfo } from './build.js';
import type { ColdInitResult } from './coldInit.js';
import type { ConfigurationResult, CostEstimate, Stat } from './analyze.js';
import type { PayloadRun } from './payloads.js';
import type { RelayStart } from './relayChild.js';
import type { AuthHookRun } from './authHook.js';

export interface BenchReport {
  readonly configurations: readonly ConfigurationResult[];
  readonly coldInit: readonly ColdInitResult[];
  readonly bundles: { readonly handler: BundleInfo; readonly bare: BundleInfo };
  readonly costs: readonly CostEstimate[];
  readonly relays: readonly RelayStart[];
  /** The auth hook phase (bench/authHook.ts); absent when skipped. */
  readonly authHook?: AuthHookRun | undefined;
  /** The payloads phase (bench/payloads.ts); absent or empty when skipped. */
  readonly payloads?: readonly PayloadRun[];
}

interface Table {
  readonly title: string;
  readonly headers: readonly string[];
  /** `r` right-aligns a column (numbers). */
  readonly align: readonly ('l' | 'r')[];
  readonly rows: readonly (readonly string[])[];
  readonly notes?: readonly string[];
}

/** 3 significant-ish digits: 1234 → "1234", 12.34 → "12.3", 1.234 → "1.23", 0.01234 → "0.012". */
export function num(value: number): string {
  if (!Number.isFinite(value)) return '–';
  const abs = Math.abs(value);
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  if (abs === 0) return '0';
  return value.toPrecision(2);
}

const range = (s: Stat): string => (s.n > 1 ? `${num(s.median)} (${num(s.min)}–${num(s.max)})` : num(s.median));
const times = (value: number | undefined): string => (value === undefined ? '' : `${num(value)}×`);
const dollars = (value: number): string => (value >= 1 ? `$${value.toFixed(2)}` : value >= 0.01 ? `$${value.toFixed(3)}` : value > 0 ? `$${value.toPrecision(2)}` : '$0');
const kb = (bytes: number): string => `${(bytes / 1024).toFixed(0)} KB`;

const GREETING_LABEL = { delay: '100 ms (as shipped)', 'no-delay': 'none (patched out)' } as const;

/** What the floor row is: the least any worker that suppresses duplicates with a DynamoDB conditional write spends. */
export const FLOOR_NOTE =
  'floor = raw pooled nodemailer that first makes the worker\'s idempotency claim for each message (the same conditional DynamoDB UpdateItem: DynamoIdempotencyStore.claim on a client built like the worker\'s, same emulator, fresh keys), same in-flight count and connections: the least any worker that suppresses duplicates with a conditional write spends. The worker\'s own cost is its CPU minus the floor\'s.';

function throughputTable(report: BenchReport): Table {
  const runs = Math.max(...report.configurations.map((c) => c.msgPerSec.n));
  return {
    title: `Throughput and client CPU (median of ${runs} interleaved runs, min–max in brackets)`,
    headers: ['configuration', 'greeting delay', 'routes', 'msgs/run', 'msg/s', '× naive serial', '× naive 16', '× raw pooled', 'client CPU ms/msg', 'CPU × pooled', 'relay CPU ms/msg', 'SMTP conns/100', 'AUTH/100', 'AWS calls/100', 'peak RSS MB', 'failed'],
    align: ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    rows: report.configurations.map((c) => [
      c.label,
      GREETING_LABEL[c.greeting],
      String(c.routes),
      String(c.messages),
      range(c.msgPerSec),
      times(c.ratios.toNaiveSerial),
      times(c.ratios.toNaive16),
      times(c.ratios.toPooled),
      range(c.cpuMsPerMsg),
      times(c.ratios.cpuToPooled),
      num(c.relayCpuMsPerMsg.median),
      num(c.connectionsPer100.median),
      num(c.authPer100.median),
      c.kind === 'worker' || c.kind === 'floor' ? num(Object.values(c.awsCallsPer100).reduce((sum, s) => sum + s.median, 0)) : '',
      num(c.peakRssMb.max),
      String(c.failed),
    ]),
    notes: [
      'client CPU = process.cpuUsage() of the client process over the timed window; the relay and the AWS emulators run in other processes.',
      'relay CPU = the same for the smtp-server relay process: what each way of sending costs the relay.',
      'For the worker that process also runs the local SQS poller (receive + delete), which Lambda\'s event source mapping does outside the function.',
      ...(report.configurations.some((c) => c.kind === 'floor') ? [FLOOR_NOTE] : []),
    ],
  };
}

/** "batches of 10, 10 records in flight" when every worker row has that shape, else "batch size and records in flight per row". */
export function batchShapes(workers: readonly Pick<ConfigurationResult, 'batchSize' | 'inFlight'>[]): string {
  const shapes = new Set(workers.map((c) => `batches of ${c.batchSize ?? 10}, ${c.inFlight} records in flight`));
  return shapes.size === 1 ? [...shapes][0]! : 'batch size and records in flight per row';
}

function workerTable(report: BenchReport): Table {
  const workers = report.configurations.filter((c) => c.kind === 'worker');
  return {
    title: `Worker invocations (one Lambda sandbox; ${batchShapes(workers)})`,
    headers: ['greeting delay', 'routes', 'records/invocation', 'invocation ms', 'handler CPU ms/msg', 'log bytes/msg', 'relay commands/100 msgs'],
    align: ['l', 'r', 'r', 'r', 'r', 'r', 'l'],
    rows: workers.map((c) => [
      GREETING_LABEL[c.greeting],
      String(c.routes),
      `${num(c.messagesPerBatch?.median ?? 0)} (${c.inFlight} in flight)`,
      c.handlerMsPerBatch ? range(c.handlerMsPerBatch) : '',
      c.handlerCpuMsPerMsg ? range(c.handlerCpuMsPerMsg) : '',
      num(c.logBytesPerMsg.median),
      Object.entries(c.commandsPer100)
        .map(([verb, s]) => `${verb} ${num(s.median)}`)
        .join(', '),
    ]),
  };
}

/** Per record, then per batch: the handler's stages (lambda/core/stageTimings.ts). */
const RECORD_STAGES = ['parse', 'claim', 'config', 'compose', 'session', 'smtp'] as const;
const BATCH_STAGES = ['records', 'settle', 'events'] as const;

function stageTable(report: BenchReport): Table {
  const workers = report.configurations.filter((c) => c.kind === 'worker' && c.stageMs);
  const ms = (s: Stat | undefined): string => (s ? num(s.median) : '');
  const model = workers[0]?.awsModelMs;
  return {
    title: `Where a worker invocation's wall time goes (ms, mean per occurrence, median over runs; ${batchShapes(workers)})`,
    headers: [
      'greeting delay',
      'routes',
      'records/invocation',
      'invocation ms',
      ...RECORD_STAGES.map((s) => `${s} /record`),
      ...BATCH_STAGES.map((s) => `${s} /batch`),
      'delete /batch (poller)',
      'DynamoDB ms/call: client / emulator',
      `invocation ms, DynamoDB at ${model ?? '?'} ms`,
    ],
    align: ['l', 'r', 'r', 'r', ...RECORD_STAGES.map(() => 'r' as const), ...BATCH_STAGES.map(() => 'r' as const), 'r', 'r', 'r'],
    rows: workers.map((c) => {
      return [
        GREETING_LABEL[c.greeting],
        String(c.routes),
        `${num(c.messagesPerBatch?.median ?? 0)} (${c.inFlight} in flight)`,
        c.handlerMsPerBatch ? num(c.handlerMsPerBatch.median) : '',
        ...RECORD_STAGES.map((s) => ms(c.stageMs?.[s])),
        ...BATCH_STAGES.map((s) => ms(c.stageMs?.[s])),
        ms(c.awsClientMsPerCall?.['SQS.DeleteMessageBatch']),
        `${num(c.awsClientMsPerCall?.['DynamoDB.UpdateItem']?.median ?? 0)} / ${num(c.awsServiceMsPerCall?.['DynamoDB.UpdateItem']?.median ?? 0)} (claim), ${num(c.awsClientMsPerCall?.['DynamoDB.BatchWriteItem']?.median ?? 0)} / ${num(c.awsServiceMsPerCall?.['DynamoDB.BatchWriteItem']?.median ?? 0)} (settle)`,
        c.modeledInvocationMs ? num(c.modeledInvocationMs.median) : '',
      ];
    }),
    notes: [
      'Per record: parse (body, queue message), claim (idempotency UpdateItem), config (routes from the config store, cached), compose (MIME), session (credentials + waiting for a pooled session, or a new one with TLS and AUTH), smtp (MAIL FROM to the reply to the dot). Records run concurrently (records in flight), so per-record stages overlap; per batch: records (first start to last end), settle (the BatchWriteItem at the end), events.',
      'delete = the poller\'s DeleteMessageBatch after the invocation (Lambda\'s event source mapping does it outside the function).',
      'DynamoDB ms/call: as the function saw the call / what the emulator (dynalite, one call at a time) spent answering it, queueing included.',
      'DynamoDB modeled: each wave of records in flight waits for its claims and the batch for its settle: those stages are replaced by one round trip each (--aws-rtt, or 4 ms on loopback: DynamoDB in-region). The mean claim stands for the wave\'s slowest, so this errs long.',
    ],
  };
}

function awsTable(report: BenchReport): Table {
  const workers = report.configurations.filter((c) => c.kind === 'worker');
  const calls = [...new Set(workers.flatMap((c) => Object.keys(c.awsCallsPer100)))].sort();
  return {
    title: 'AWS API calls per 100 messages at steady state (counted at the emulators, after warm-up)',
    headers: ['greeting delay', 'routes', ...calls, 'all calls', 'DynamoDB WRU'],
    align: ['l', 'r', ...calls.map(() => 'r' as const), 'r', 'r'],
    rows: workers.map((c) => [
      GREETING_LABEL[c.greeting],
      String(c.routes),
      ...calls.map((call) => num(c.awsCallsPer100[call]?.median ?? 0)),
      num(Object.values(c.awsCallsPer100).reduce((sum, s) => sum + s.median, 0)),
      num(c.writeUnitsPer100?.median ?? 0),
    ]),
    notes: [
      'Config (BatchGetItem) and secrets (GetSecretValue) are cached per sandbox for 60 s and 300 s (CDK defaults): at steady state they round to 0.',
      'UpdateItem = the idempotency claim per message; BatchWriteItem = the batch\'s settles (lambda/worker/settleBatch.ts). SQS receive + delete are the event source mapping\'s, outside the function.',
      'DynamoDB WRU = items written, counted at the emulator (a BatchWriteItem of 10 puts is 10 WRU): batching saves round trips, not write units.',
    ],
  };
}

function coldInitTable(report: BenchReport): Table {
  const runs = Math.max(...report.coldInit.map((c) => c.totalMs.n));
  return {
    title: `Cold init in a fresh node process (median of ${runs}, min–max)`,
    headers: ['module', 'import ms', 'first work ms', 'import + first work ms', '× bare bundle, paired', '× bare bundle, fastest', 'process start → ready ms', 'RSS MB'],
    align: ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    rows: report.coldInit.map((c) => [
      c.label,
      range(c.importMs),
      range(c.initMs),
      range(c.totalMs),
      c.toBare ? `${range(c.toBare)}×` : '',
      c.toBareFastest ? times(c.toBareFastest) : '',
      range(c.processReadyMs),
      num(c.rssMb.median),
    ]),
    notes: [
      'first work = the handler\'s first invocation with an empty batch (reads settings, builds the SDK clients and the pool) or constructing the bare clients.',
      '× bare bundle, paired = import + first work ÷ the bare bundle\'s in the same round (sampled back to back, order rotated), median over rounds; fastest = the fastest sample ÷ the bare bundle\'s fastest (load only adds time, so on a busy machine this is the steadier one). The cold-init target is ≤ 1.3×.',
    ],
  };
}

function bundleTable(report: BenchReport): Table {
  const row = (label: string, b: BundleInfo): string[] => [label, kb(b.startBytes), kb(b.bytes), String(b.files), kb(b.gzipBytes), kb(b.mapBytes)];
  return {
    title: 'Bundle size (esbuild, as deployed: ESM split at dynamic imports, minified, external source maps; infra/relayBundle.ts)',
    headers: ['bundle', 'loaded at start', 'total', '.mjs files', 'gzip -9 (total)', 'source maps'],
    align: ['l', 'r', 'r', 'r', 'r', 'r'],
    rows: [row('mailrelay handler (lambda/handlers/relay.ts)', report.bundles.handler), row('bare: AWS SDK clients + nodemailer', report.bundles.bare)],
    notes: [
      'loaded at start = the entry (index.mjs) and the chunks it imports statically, transitively: what every cold start reads and compiles. The 1 MB target is judged on it; total adds the chunks loaded on first use (S3 client: pointer bodies; Lambda client: function auth hooks; SSM client: parameter keysources; the SDK\'s credential providers).',
    ],
  };
}

function costTable(report: BenchReport): Table {
  return {
    title: 'Estimated AWS cost per million messages (us-east-1 list prices, Lambda arm64 512 MB; see bench/prices.ts)',
    headers: ['greeting delay', 'routes', 'Lambda requests', 'Lambda duration', 'SQS', 'DynamoDB', 'Secrets Manager', 'EventBridge', 'CloudWatch Logs', 'total', 'total without events', 'total, CPU-scaled', 'total, DynamoDB modeled', 'Amazon SES'],
    align: ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    rows: report.costs.map((c) => [
      GREETING_LABEL[c.greeting],
      String(c.routes),
      dollars(c.perMillion.lambdaRequests),
      dollars(c.perMillion.lambdaDuration),
      dollars(c.perMillion.sqs),
      dollars(c.perMillion.dynamodb),
      dollars(c.perMillion.secretsManager),
      dollars(c.perMillion.eventBridge),
      dollars(c.perMillion.cloudWatchLogs),
      dollars(c.perMillion.total),
      dollars(c.perMillion.total - c.perMillion.eventBridge),
      dollars(c.perMillion.totalCpuScaled),
      c.perMillion.totalModeled === undefined ? '' : dollars(c.perMillion.totalModeled),
      dollars(c.perMillion.ses),
    ]),
    notes: [
      'Lambda duration from the measured invocation time here; "CPU-scaled" stretches the handler\'s CPU time to 512 MB\'s share of a vCPU (512/1769); "DynamoDB modeled" uses the invocation time with the emulator\'s claim and settle latency replaced by the model (the stage table).',
      'SQS = the measured receive + delete (+ any visibility change or DLQ send) per message + producers\' SendMessageBatch of 10.',
      'EventBridge = one delivery event per message (one recipient each; docs/events.md), published in the measured PutEvents calls of up to 10. "total without events": issue 17\'s cost target (≤ $1.90) predates delivery events and compares like for like.',
      'Not included: the relay itself, secret storage ($0.40/secret-month), custom metrics, DynamoDB storage, data transfer.',
    ],
  };
}

function payloadsTable(report: BenchReport): Table {
  const bytes = (n: number): string => (n === 0 ? '0' : n >= 1_048_576 ? `${(n / 1_048_576).toFixed(2)} MiB` : kb(n));
  return {
    title: 'Delivery events and S3 payloads: extra calls per message (bench/payloads.ts; the bundled worker, events on)',
    headers: ['message', 'body', 'msgs', 'msg/s', 'client CPU ms/msg', 'S3 PUT/msg (producer)', 'S3 GET/msg', 'S3 DELETE/msg', 'PutEvents/msg', 'entries/PutEvents', 'S3 bytes in / out per msg', 'SMTP bytes/msg', 'peak RSS MB', 'added $ per 1M msgs'],
    align: ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    rows: (report.payloads ?? []).map((p) => [
      p.label,
      `${bytes(p.bodyBytes)}${p.offloaded ? ', S3 pointer' : ', inline'}`,
      `${p.relayed}/${p.messages}`,
      num(p.msgPerSec),
      num(p.cpuMsPerMsg),
      num(p.s3PutPerMsg),
      num(p.s3GetPerMsg),
      num(p.s3DeletePerMsg),
      num(p.putEventsPerMsg),
      num(p.entriesPerPutEvents),
      `${bytes(p.s3BytesInPerMsg)} / ${bytes(p.s3BytesOutPerMsg)}`,
      bytes(p.smtpBytesPerMsg),
      num(p.peakRssMb),
      dollars(p.addedCostPerMillion.total),
    ]),
    notes: [
      'Counted at the stand-ins: PUT by the producer while enqueueing (offloads above 256 KiB, as `mailrelay enqueue`), GET / DELETE / PutEvents by the function in the timed window.',
      'Added $ = S3 PUT ($0.005/1k) + GET ($0.0004/1k) + DELETE (free) + one EventBridge event per recipient ($1.00/1M), bench/prices.ts; storage for the minutes an object lives is negligible.',
      'peak RSS: the client process (handler + poller) with a batch of 10 in flight: every record holds its body, parsed JSON and MIME message at once; compare with the function\'s memory (512 MB).',
      'Not in it: the Lambda time a large message takes (client CPU ms/msg shows it), SQS (a pointer body is one 64 KiB chunk; an inline body over 64 KiB is billed as several).',
    ],
  };
}

function render(table: Table, format: 'text' | 'markdown'): string {
  if (format === 'markdown') {
    const line = (cells: readonly string[]) => `| ${cells.map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`;
    return [
      `**${table.title}**`,
      '',
      line(table.headers),
      line(table.align.map((a) => (a === 'r' ? '---:' : '---'))),
      ...table.rows.map(line),
      ...(table.notes?.length ? ['', ...table.notes.map((n) => `- ${n}`)] : []),
    ].join('\n');
  }
  const widths = table.headers.map((h, i) => Math.max(h.length, ...table.rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (table.align[i] === 'r' ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [
    table.title,
    line(table.headers),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...table.rows.map(line),
    ...(table.notes ?? []).map((n) => `  ${n}`),
  ].join('\n');
}

// --- auth hook phase (bench/authHook.ts) ---
const ms = (value: number | undefined): string => (value === undefined ? '' : num(value));

function authHookTable(report: BenchReport): Table | undefined {
  const run = report.authHook;
  if (!run) return undefined;
  return {
    title: `Auth hook (module hook bundled as #auth-hook; ${run.tenants} tenants on one relay; ${run.warmup} warm-up + ${run.messages} timed messages per run; median of ${run.rounds} interleaved runs)`,
    headers: ['variant', 'msg/s', '× no hook', 'client CPU ms/msg', 'CPU × no hook', 'invocation ms', '× no hook', 'hook calls / msgs', 'cache hit ratio', 'hook ms p50', 'hook ms p95', 'sessions per tenant', 'wrong user', 'delivered'],
    align: ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    rows: run.variants.map((v) => {
      const sum = (pick: (r: (typeof v.runs)[number]) => number): number => v.runs.reduce((total, r) => total + pick(r), 0);
      const calls = sum((r) => r.hookCalls);
      const hits = sum((r) => r.cacheHits);
      const sessionsMin = Math.min(...v.runs.map((r) => r.sessionsPerTenant.min));
      const sessionsMax = Math.max(...v.runs.map((r) => r.sessionsPerTenant.max));
      return [
        v.label,
        range(v.msgPerSec),
        times(v.msgPerSecRatio),
        range(v.cpuMsPerMsg),
        times(v.cpuRatio),
        range(v.invocationMs),
        times(v.invocationMsRatio),
        calls + hits > 0 ? `${calls} / ${sum((r) => r.totalMessages)}` : '',
        calls + hits > 0 ? `${((hits / (calls + hits)) * 100).toFixed(1)} %` : '',
        ms(v.hookMsP50),
        ms(v.hookMsP95),
        sessionsMin === sessionsMax ? String(sessionsMin) : `${sessionsMin}–${sessionsMax}`,
        String(sum((r) => r.wrongUser)),
        `${sum((r) => r.delivered)}/${sum((r) => r.totalMessages)}`,
      ];
    }),
    notes: [
      'msg/s, client CPU and invocation ms over the timed window (× no hook: median of each round\'s ratio to the no-hook run); hook calls, cache hits, sessions and deliveries over all runs (warm-up + window), deliveries counted at the relay.',
      'hook ms = one hook call as the worker times it (lambda/core/authHook/runner.ts stats: the call and validating its answer); the answer cache holds per (auth.key, route) for 60 s unless "cache off".',
      'no hook = the same tenants as config items with a Secrets Manager secret each; sessions per tenant = successful AUTHs by that tenant\'s user (a session never carries another tenant\'s message).',
    ],
  };
}
// --- end auth hook phase ---

/** Every table of the report, in the given format, separated by blank lines. */
export function renderReport(report: BenchReport, format: 'text' | 'markdown'): string {
  const relays = report.relays.map((r) => `${r.greeting}: greeting after ${num(r.greetingMs)} ms${r.rttMs ? ` (${r.rttMs} ms SMTP round trip added)` : ''}`).join('; ');
  const intro = format === 'markdown' ? `Relay greeting latency measured at start: ${relays}.` : `Relay greeting latency measured at start: ${relays}`;
  const tables = [throughputTable, workerTable, ...(report.configurations.some((c) => c.stageMs) ? [stageTable] : []), awsTable, costTable, ...(report.payloads?.length ? [payloadsTable] : []), coldInitTable, bundleTable, authHookTable]
    .map((t) => t(report))
    .filter((t) => t !== undefined);
  return [intro, ...tables.map((t) => render(t, format))].join('\n\n');
}
