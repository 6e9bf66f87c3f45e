/**
 * Child process: the AWS side on loopback (dynalite, fauxqs, the Secrets Manager/SSM endpoint,
 * the EventBridge PutEvents stand-in for delivery events, the S3 stand-in for payloads),
 * so the emulators' CPU is not the client's, and the AWS API call counter. Calls are counted as
 * the emulators receive them (the `http.server.request.start` diagnostics channel, by server and
 * `X-Amz-Target`), which needs nothing injected into the bundle under test.
 */
import { subscribe } from 'node:diagnostics_channel';
import type { IncomingMessage, Server } from 'node:http';
import { startDynamo, startSqs, type LocalEmulator } from '../local/emulators.js';
import { startEventsEndpoint, type EventsEndpoint } from '../local/eventsEndpoint.js';
import { startS3Endpoint, type S3Endpoint } from '../local/s3Endpoint.js';
import { startSecretsEndpoint, type SecretsEndpoint } from '../local/secretsEndpoint.js';
import { startDelayProxy, type DelayProxy } from './delayProxy.js';
import { serve } from './ipc.js';

export interface AwsEndpoints {
  readonly dynamoEndpoint: string;
  readonly sqsEndpoint: string;
  readonly secretsUrl: string;
  readonly eventsUrl: string;
  /** The S3 stand-in (path style), with the payload bucket created. */
  readonly s3Url: string;
  /** What the function under test calls: behind a delay proxy when the bench models the network. */
  readonly functionDynamoEndpoint: string;
  readonly functionSecretsUrl: string;
  readonly functionEventsUrl: string;
  readonly functionS3Url: string;
}

/** `node awsChild.ts <aws rtt ms>` */
const rttMs = Number(process.argv[2] ?? '0') || 0;
const proxies: DelayProxy[] = [];

/** `Service.Operation` → calls since the last `counters` request. */
export type AwsCallCounts = Readonly<Record<string, number>>;

/** What the emulators saw since the last `counters` request. */
export interface AwsCounters {
  readonly calls: AwsCallCounts;
  /**
   * DynamoDB items written: 1 per UpdateItem/PutItem/DeleteItem, 1 per put or delete request in a
   * BatchWriteItem (read from its body). Each is 1 WRU for items under 1 KB, as here.
   */
  readonly dynamoWriteItems: number;
  /** Entries of the PutEvents calls (delivery events: EventBridge bills each one). */
  readonly eventEntries: number;
  /** Object bytes PutObject received and GetObject sent (the bytes S3 moved). */
  readonly s3BytesIn: number;
  readonly s3BytesOut: number;
  /** Wall time the emulator spent per call (request start → response end in this process), summed per `Service.Operation`. */
  readonly serviceMs: Readonly<Record<string, number>>;
}

const services = new Map<number, 'DynamoDB' | 'SQS' | 'Secrets' | 'EventBridge' | 'S3'>();
let counts: Record<string, number> = {};
let dynamoWriteItems = 0;
let serviceMs: Record<string, number> = {};
const started = new WeakMap<IncomingMessage, { key: string; at: number }>();
let s3BytesIn = 0;
let s3BytesOut = 0;
/** S3 calls are counted from the stand-in's own request log (REST: no X-Amz-Target); entries before this were counted. */
let s3Counted = 0;
const SINGLE_WRITES = new Set(['UpdateItem', 'PutItem', 'DeleteItem']);

subscribe('http.server.request.start', (message) => {
  const { request, server } = message as { request: IncomingMessage; server: Server };
  const address = server.address();
  const service = address && typeof address === 'object' ? services.get(address.port) : undefined;
  if (!service) return;
  if (service === 'S3') {
    // A PutObject's object bytes (the decoded length when the SDK streams aws-chunked); a
    // GetObject's, looked up as it arrives (the object is deleted once the message is relayed).
    if (request.method === 'PUT') s3BytesIn += Number(request.headers['x-amz-decoded-content-length'] ?? request.headers['content-length'] ?? 0) || 0;
    if (request.method === 'GET') {
      const [bucket = '', ...key] = new URL(request.url ?? '/', 'http://s3').pathname.slice(1).split('/');
      s3BytesOut += s3?.getObject(decodeURIComponent(bucket), key.map(decodeURIComponent).join('/'))?.length ?? 0;
    }
    return;
  }
  const target = String(request.headers['x-amz-target'] ?? '');
  const operation = target.includes('.') ? target.slice(target.lastIndexOf('.') + 1) : target || `${request.method ?? '?'} ${request.url ?? ''}`;
  // One endpoint serves both Secrets Manager and SSM: the target's prefix says which.
  const name = service === 'Secrets' ? (target.startsWith('AmazonSSM.') ? 'SSM' : 'SecretsManager') : service;
  const key = `${name}.${operation}`;
  counts[key] = (counts[key] ?? 0) + 1;
  started.set(request, { key, at: performance.now() });
  if (service === 'DynamoDB' && SINGLE_WRITES.has(operation)) dynamoWriteItems += 1;
  if (service === 'DynamoDB' && operation === 'BatchWriteItem') {
    // Listening alongside dynalite (attached in the same tick, before any data flows).
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => (dynamoWriteItems += (body.match(/"(PutRequest|DeleteRequest)"/g) ?? []).length));
  }
});

// The emulator's own latency: how long it took to answer, queueing behind other calls included.
subscribe('http.server.response.finish', (message) => {
  const call = started.get((message as { request: IncomingMessage }).request);
  if (call) serviceMs[call.key] = (serviceMs[call.key] ?? 0) + performance.now() - call.at;
});

let dynamo: LocalEmulator | undefined;
let sqs: LocalEmulator | undefined;
let secrets: SecretsEndpoint | undefined;
let events: EventsEndpoint | undefined;
let s3: S3Endpoint | undefined;

serve(
  {
    async start(payload: { secrets: Record<string, string>; eventBus: string; payloadBucket: string }): Promise<AwsEndpoints> {
      dynamo = await startDynamo();
      sqs = await startSqs();
      secrets = await startSecretsEndpoint({ secrets: payload.secrets });
      events = await startEventsEndpoint({ buses: [payload.eventBus] });
      s3 = await startS3Endpoint({ buckets: [payload.payloadBucket] });
      services.set(dynamo.port, 'DynamoDB');
      services.set(sqs.port, 'SQS');
      services.set(secrets.port, 'Secrets');
      services.set(events.port, 'EventBridge');
      services.set(s3.port, 'S3');
      const behind = async (url: string): Promise<string> => {
        if (rttMs <= 0) return url;
        const parsed = new URL(url);
        const proxy = await startDelayProxy(Number(parsed.port), rttMs);
        proxies.push(proxy);
        parsed.port = String(proxy.port);
        return parsed.toString().replace(/\/$/, '');
      };
      return {
        dynamoEndpoint: dynamo.endpoint,
        sqsEndpoint: sqs.endpoint,
        secretsUrl: secrets.url,
        eventsUrl: events.url,
        s3Url: s3.url,
        functionDynamoEndpoint: await behind(dynamo.endpoint),
        functionSecretsUrl: await behind(secrets.url),
        functionEventsUrl: await behind(events.url),
        functionS3Url: await behind(s3.url),
      };
    },
    counters(): AwsCounters {
      for (const { operation } of s3?.requests.slice(s3Counted) ?? []) counts[`S3.${operation}`] = (counts[`S3.${operation}`] ?? 0) + 1;
      s3Counted = s3?.requests.length ?? 0;
      const eventEntries = events?.calls.reduce((sum, call) => sum + call.entries, 0) ?? 0;
      const snapshot = { calls: counts, dynamoWriteItems, eventEntries, s3BytesIn, s3BytesOut, serviceMs };
      counts = {};
      dynamoWriteItems = 0;
      s3BytesIn = 0;
      s3BytesOut = 0;
      serviceMs = {};
      secrets?.clearRequests();
      events?.clear();
      return snapshot;
    },
  },
  async () => {
    await Promise.all([dynamo?.stop(), sqs?.stop(), secrets?.stop(), events?.stop(), s3?.stop(), ...proxies.map((p) => p.stop())]);
  },
);
