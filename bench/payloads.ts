/**
 * The payloads phase of `npm run bench` (docs/payloads.md, docs/events.md): what delivery events
 * and S3 pointer bodies add per message. The bundled handler runs in a client process exactly as
 * in the worker phases (bench/client.ts: poller → handler → delete), on its own queue, with
 * delivery events on (the PutEvents stand-in) and the payload bucket on the S3 stand-in, both in
 * the AWS child, where every call is counted as it arrives.
 *
 * Rows: the bench's ~3 KB message to 1 and to 3 recipients (events only: one event per recipient,
 * PutEvents calls of up to 10 entries), and messages with a 1 MiB and a 5 MiB attachment, which
 * the producer here offloads as `mailrelay enqueue` does above 256 KiB (PutObject under a random
 * UUID, then an SQS Extended Client pointer with `ExtendedPayloadSize`). Per row: the producer's
 * PutObject calls, the worker's GetObject / DeleteObject and PutEvents calls and entries, the bytes
 * S3 and SMTP moved, msg/s and client CPU per message, and what the extra requests cost per
 * million messages (bench/prices.ts).
 *
 * Each row enqueues its warm-up messages, lets the client drain them, then enqueues exactly the
 * measured ones (the producer's calls are counted over that enqueue) and times their drain.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SendMessageBatchCommand, type MessageAttributeValue, type SQSClient } from '@aws-sdk/client-sqs';
import { localAwsClientConfig } from '../local/awsClientConfig.js';
import { createQueues } from '../local/emulators.js';
import { WORKER_ENV } from '../lambda/core/names.js';
import { EXTENDED_PAYLOAD_SIZE_ATTRIBUTE, formatPayloadPointer, OFFLOAD_THRESHOLD_BYTES } from '../lambda/core/payloads.js';
import type { AwsCounters } from './awsChild.js';
import type { BenchBuild } from './build.js';
import type { PhaseMeasurement, WorkerPhaseSpec } from './client.js';
import { startChild, type BenchChild } from './ipc.js';
import { PRICES } from './prices.js';
import type { RelayCounters } from './relayChild.js';
import { HTML_BODY, SENDER, SUBJECT, TEXT_BODY } from './workload.js';

/** One row of the phase: the message every one of its messages is. */
export interface PayloadCase {
  readonly id: string;
  readonly label: string;
  readonly recipients: number;
  /** Bytes of the one attachment (random, base64 in the body); 0 = none. */
  readonly attachmentBytes: number;
  readonly messages: number;
  readonly warmup: number;
}

export interface PayloadRun {
  readonly id: string;
  readonly label: string;
  readonly recipients: number;
  readonly attachmentBytes: number;
  /** Bytes of the JSON body (what goes to S3 when it is above 256 KiB, else on the queue). */
  readonly bodyBytes: number;
  readonly offloaded: boolean;
  readonly messages: number;
  /** Messages the client saw succeed and the relay accepted, in the timed window. */
  readonly delivered: number;
  readonly relayed: number;
  readonly failed: number;
  readonly msgPerSec: number;
  readonly cpuMsPerMsg: number;
  readonly handlerMsPerMsg: number;
  readonly peakRssMb: number;
  /** Per message: the producer's PutObject, the worker's S3 and EventBridge calls. */
  readonly s3PutPerMsg: number;
  readonly s3GetPerMsg: number;
  readonly s3DeletePerMsg: number;
  readonly putEventsPerMsg: number;
  readonly eventsPerMsg: number;
  /** Entries per PutEvents call (EventBridge takes at most 10). */
  readonly entriesPerPutEvents: number;
  /** Per message: object bytes into S3 (producer), out of S3 (worker), and on the wire to the relay. */
  readonly s3BytesInPerMsg: number;
  readonly s3BytesOutPerMsg: number;
  readonly smtpBytesPerMsg: number;
  /** Every AWS call of the timed window (the worker's, and the poller's SQS receive + delete), per message. */
  readonly workerCallsPerMsg: Readonly<Record<string, number>>;
  /** The extra requests' list price per million messages: S3 PUT + GET + DELETE, EventBridge events. */
  readonly addedCostPerMillion: { readonly s3: number; readonly eventBridge: number; readonly total: number };
}

export interface PayloadsWorld {
  readonly runId: string;
  readonly sqs: SQSClient;
  /** The S3 stand-in as the producer reaches it (direct, not through the function's delay proxy). */
  readonly s3Url: string;
  /** The function's S3 endpoint (AWS_ENDPOINT_URL_S3). */
  readonly functionS3Url: string;
  readonly payloadBucket: string;
  readonly aws: BenchChild;
  readonly relay: BenchChild;
  /** Recipient domain with a config item routing to `relay`. */
  readonly recipientDomain: string;
  /** The worker environment of the bench (endpoints, tables, CA, event bus). */
  readonly env: NodeJS.ProcessEnv;
  readonly build: BenchBuild;
  readonly sqsEndpoint: string;
  readonly batchSize: number;
  readonly memoryMb: number;
  readonly log: (line: string) => void;
}

const MIB = 1_048_576;
const STEP_TIMEOUT_MS = 5 * 60_000;

/** The phase's rows for `messages` per S3 row (event rows get 5×: they are cheap). */
export function payloadCases(messages: number, sizesMib: readonly number[]): PayloadCase[] {
  const small = Math.max(10, messages * 5);
  return [
    { id: 'events-1rcpt', label: '3 KB message, 1 recipient', recipients: 1, attachmentBytes: 0, messages: small, warmup: 10 },
    { id: 'events-3rcpt', label: '3 KB message, 3 recipients', recipients: 3, attachmentBytes: 0, messages: small, warmup: 10 },
    ...sizesMib.map((mib) => ({
      id: `s3-${mib}mib`,
      label: `${mib} MiB attachment, body in S3`,
      recipients: 1,
      attachmentBytes: Math.round(mib * MIB),
      messages,
      warmup: Math.max(1, Math.min(5, Math.floor(messages / 4))),
    })),
  ];
}

/** The queue body of one message of a row (docs/design.md §1). */
export function payloadBody(key: string, recipients: readonly string[], attachment: string | undefined): string {
  return JSON.stringify({
    idempotencyKey: key,
    from: SENDER,
    to: recipients,
    subject: SUBJECT,
    text: TEXT_BODY,
    html: HTML_BODY,
    headers: { 'X-Campaign': 'digest-2026-47' },
    tags: { tenant: 'bench' },
    ...(attachment ? { attachments: [{ filename: 'report.pdf', contentType: 'application/pdf', content: attachment }] } : {}),
  });
}

/** What the extra requests of a row cost per million messages, at list prices. */
export function addedCost(perMsg: { s3Put: number; s3Get: number; s3Delete: number; events: number }): PayloadRun['addedCostPerMillion'] {
  const million = 1_000_000;
  const s3 = million * (perMsg.s3Put * PRICES.s3PerPutRequest + perMsg.s3Get * PRICES.s3PerGetRequest + perMsg.s3Delete * PRICES.s3PerDeleteRequest);
  const eventBridge = million * perMsg.events * PRICES.eventBridgePerEvent;
  return { s3, eventBridge, total: s3 + eventBridge };
}

export async function runPayloadsPhase(world: PayloadsWorld, cases: readonly PayloadCase[]): Promise<PayloadRun[]> {
  const s3 = new S3Client({ ...localAwsClientConfig(world.s3Url), forcePathStyle: true });
  try {
    const runs: PayloadRun[] = [];
    for (const c of cases) {
      const started = Date.now();
      const run = await runCase(world, s3, c);
      world.log(
        `[payloads] ${c.id.padEnd(13)} ${run.delivered}/${run.messages} msgs ${run.msgPerSec.toFixed(1).padStart(7)} msg/s ${run.cpuMsPerMsg.toFixed(2).padStart(7)} CPU ms/msg, ` +
          `per msg: S3 PUT ${num(run.s3PutPerMsg)} GET ${num(run.s3GetPerMsg)} DELETE ${num(run.s3DeletePerMsg)}, PutEvents ${num(run.putEventsPerMsg)} (${num(run.entriesPerPutEvents)} entries/call), ` +
          `+$${run.addedCostPerMillion.total.toFixed(2)}/1M msgs (${((Date.now() - started) / 1000).toFixed(1)} s)`,
      );
      runs.push(run);
    }
    return runs;
  } finally {
    s3.destroy();
  }
}

const num = (value: number): string => (Number.isInteger(value) ? String(value) : value.toFixed(2));

async function runCase(world: PayloadsWorld, s3: S3Client, c: PayloadCase): Promise<PayloadRun> {
  const tag = `${world.runId}-${c.id}`;
  const queues = await createQueues(world.sqs, { name: `mailrelay-bench-payloads-${tag}`, maxReceiveCount: 10, visibilityTimeout: 60 });
  const attachment = c.attachmentBytes > 0 ? randomBytes(c.attachmentBytes).toString('base64') : undefined;
  let index = 0;
  let bodyBytes = 0;
  let offloaded = false;
  /** The producer: `count` messages, offloaded to S3 above 256 KiB as `mailrelay enqueue` does. */
  const enqueue = async (count: number): Promise<void> => {
    for (let first = 0; first < count; first += 10) {
      const entries: { Id: string; MessageBody: string; MessageAttributes?: Record<string, MessageAttributeValue> }[] = [];
      for (let j = first; j < Math.min(first + 10, count); j++) {
        const n = index++;
        const to = Array.from({ length: c.recipients }, (_, r) => `p${n}r${r}@${world.recipientDomain}`);
        const body = payloadBody(`bench-${tag}-${n}`, to, attachment);
        bodyBytes = Buffer.byteLength(body, 'utf8');
        if (bodyBytes <= OFFLOAD_THRESHOLD_BYTES) {
          entries.push({ Id: String(j - first), MessageBody: body });
          continue;
        }
        offloaded = true;
        const key = randomUUID();
        await s3.send(new PutObjectCommand({ Bucket: world.payloadBucket, Key: key, Body: Buffer.from(body, 'utf8'), ContentType: 'application/json' }));
        entries.push({
          Id: String(j - first),
          MessageBody: formatPayloadPointer({ bucket: world.payloadBucket, key }),
          MessageAttributes: { [EXTENDED_PAYLOAD_SIZE_ATTRIBUTE]: { DataType: 'Number', StringValue: String(bodyBytes) } },
        });
      }
      const response = await world.sqs.send(new SendMessageBatchCommand({ QueueUrl: queues.queueUrl, Entries: entries }));
      if (response.Failed?.length) throw new Error(`payloads enqueue: ${response.Failed.length} entries failed: ${response.Failed[0]?.Message ?? ''}`);
    }
  };

  let stderrTail = '';
  const client = startChild(world.build.client, {
    name: `client payloads ${c.id}`,
    execArgv: ['--enable-source-maps'],
    env: {
      ...world.env,
      QUEUE_URL: queues.queueUrl,
      DEAD_LETTER_QUEUE_URL: queues.dlqUrl,
      MAX_RECEIVE_COUNT: '10',
      // Pointer bodies are read from this bucket only (docs/payloads.md), on the S3 stand-in.
      AWS_ENDPOINT_URL_S3: world.functionS3Url,
      [WORKER_ENV.payloadBucketName]: world.payloadBucket,
      // What Lambda sets: the payload budget is derived from it (docs/payloads.md "Memory");
      // PAYLOAD_BUDGET_MIB in the bench's own environment overrides it, for measuring.
      [WORKER_ENV.functionMemorySize]: String(world.memoryMb),
      ...(process.env[WORKER_ENV.payloadBudgetMiB] ? { [WORKER_ENV.payloadBudgetMiB]: process.env[WORKER_ENV.payloadBudgetMiB] } : {}),
    },
    onOutput: (chunk, stream) => {
      if (stream === 'stderr') stderrTail = (stderrTail + chunk.toString()).slice(-4000);
    },
  });
  const spec: WorkerPhaseSpec = {
    kind: 'worker',
    bundle: world.build.handler.path,
    queueUrl: queues.queueUrl,
    queueArn: queues.queueArn,
    sqsEndpoint: world.sqsEndpoint,
    batchSize: world.batchSize,
    memoryMb: world.memoryMb,
    warmup: c.warmup,
    messages: c.messages,
  };
  const counters = () => Promise.all([world.relay.request<RelayCounters>('counters'), world.aws.request<AwsCounters>('counters')]);
  try {
    await withTimeout(client.request('start', spec), `${c.id} start`);
    await enqueue(c.warmup);
    await withTimeout(client.request('warmup'), `${c.id} warm-up`);
    await counters();
    await enqueue(c.messages);
    const [, producer] = await counters();
    const measurement = await withTimeout(client.request<PhaseMeasurement>('measure'), `${c.id} measure`);
    const [relay, worker] = await counters();
    if (measurement.delivered < c.messages || relay.messages < c.messages) {
      world.log(`  ! payloads ${c.id}: ${measurement.delivered} of ${c.messages} acknowledged, ${relay.messages} relayed, ${measurement.failed} failed. Client stderr:\n${stderrTail}`);
    }
    const per = (value: number): number => value / Math.max(1, measurement.delivered);
    const calls = (name: string): number => worker.calls[name] ?? 0;
    const perMsg = {
      s3Put: (producer.calls['S3.PutObject'] ?? 0) / c.messages,
      s3Get: per(calls('S3.GetObject')),
      s3Delete: per(calls('S3.DeleteObject')),
      events: per(worker.eventEntries),
    };
    return {
      id: c.id,
      label: c.label,
      recipients: c.recipients,
      attachmentBytes: c.attachmentBytes,
      bodyBytes,
      offloaded,
      messages: c.messages,
      delivered: measurement.delivered,
      relayed: relay.messages,
      failed: measurement.failed,
      msgPerSec: (measurement.delivered * 1000) / measurement.wallMs,
      cpuMsPerMsg: per(measurement.cpuMs),
      handlerMsPerMsg: per(measurement.handlerMs ?? 0),
      peakRssMb: measurement.peakRssMb,
      s3PutPerMsg: perMsg.s3Put,
      s3GetPerMsg: perMsg.s3Get,
      s3DeletePerMsg: perMsg.s3Delete,
      putEventsPerMsg: per(calls('EventBridge.PutEvents')),
      eventsPerMsg: perMsg.events,
      entriesPerPutEvents: calls('EventBridge.PutEvents') > 0 ? worker.eventEntries / calls('EventBridge.PutEvents') : 0,
      s3BytesInPerMsg: producer.s3BytesIn / c.messages,
      s3BytesOutPerMsg: per(worker.s3BytesOut),
      smtpBytesPerMsg: relay.messages > 0 ? relay.bytes / relay.messages : 0,
      workerCallsPerMsg: Object.fromEntries(Object.entries(worker.calls).map(([name, count]) => [name, per(count)])),
      addedCostPerMillion: addedCost(perMsg),
    };
  } finally {
    await client.stop();
  }
}

function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`payloads ${what}: no answer after ${STEP_TIMEOUT_MS} ms`)), STEP_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
