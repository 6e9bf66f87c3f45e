import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { listenOnLoopback, readBoundedBody, serverStopper } from './loopback.js';

/**
 * A local stand-in for Amazon EventBridge's PutEvents: a node:http server on 127.0.0.1 speaking
 * the AWS JSON 1.1 protocol (`X-Amz-Target: AWSEvents.PutEvents`) well enough for the real
 * `@aws-sdk/client-eventbridge`, pointed at it with `endpoint: url` or
 * `AWS_ENDPOINT_URL_EVENTBRIDGE`. It keeps every event it accepts (what a rule on the bus would
 * see) and calls `onEvent` for each, which `npm start` uses to print delivery events as they
 * happen. Request signatures are not checked.
 *
 * As EventBridge does: 1-10 entries per call; `Source`, `DetailType` and `Detail` (a JSON object)
 * required per entry, a bad entry failing alone (`InvalidArgument`) while the others are accepted;
 * an unknown bus is a `ResourceNotFoundException` for the call; the whole request at most 256 KiB.
 */

/** One event as a rule on the bus sees it (the EventBridge event envelope). */
export interface CapturedEvent {
  readonly id: string;
  readonly source: string;
  readonly 'detail-type': string;
  readonly time: string;
  readonly region: string;
  readonly account: string;
  readonly resources: readonly string[];
  readonly detail: Record<string, unknown>;
  /** The bus it was put on. */
  readonly eventBusName: string;
}

/** A failure to inject with `failNext`: the whole call, or only some of its entries. */
export interface InjectedEventsFailure {
  /** `ThrottlingException`, `InternalException`, `AccessDeniedException`, ... */
  readonly type: string;
  /** `call`: the whole PutEvents call fails; `entries`: every entry of the call fails with this ErrorCode.  @default 'call' */
  readonly scope?: 'call' | 'entries';
  /** How many consecutive calls fail.  @default 1 */
  readonly times?: number;
}

export interface EventsEndpointOptions {
  /** Buses that exist.  @default ['default'] */
  readonly buses?: readonly string[];
  readonly region?: string;
  readonly accountId?: string;
  /** Called for every accepted event, in order. */
  readonly onEvent?: (event: CapturedEvent) => void;
  readonly port?: number;
}

export interface EventsEndpoint {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /** Every accepted event, in order (live array). */
  readonly events: CapturedEvent[];
  /** PutEvents calls received, with their entry counts (failed ones included). */
  readonly calls: { readonly entries: number; readonly failedWith?: string | undefined }[];
  failNext(failure: InjectedEventsFailure): void;
  /** Forgets events, calls and pending failures. */
  clear(): void;
  stop(): Promise<void>;
}

const CONTENT_TYPE = 'application/x-amz-json-1.1';
/** PutEvents' request size limit. */
const MAX_BODY_BYTES = 256 * 1024;
const MAX_ENTRIES = 10;

class AwsError extends Error {
  public constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

type Entry = Record<string, unknown>;

/**
 * @example
 * const bus = await startEventsEndpoint({ buses: ['mailrelay'], onEvent: (e) => console.log(e['detail-type']) });
 * const client = new EventBridgeClient({ endpoint: bus.url, region: 'us-east-1', credentials });
 */
export async function startEventsEndpoint(options: EventsEndpointOptions = {}): Promise<EventsEndpoint> {
  const region = options.region ?? 'us-east-1';
  const account = options.accountId ?? '000000000000';
  const buses = new Set(options.buses ?? ['default']);
  const events: CapturedEvent[] = [];
  const calls: { entries: number; failedWith?: string | undefined }[] = [];
  let failures: { failure: InjectedEventsFailure; remaining: number }[] = [];

  const busName = (value: unknown): string => {
    const name = typeof value === 'string' && value !== '' ? value : 'default';
    // A bus may be named by its ARN.
    return /^arn:aws[\w-]*:events:[^:]*:\d{12}:event-bus\/(.+)$/.exec(name)?.[1] ?? name;
  };

  const putEvents = (body: Record<string, unknown>, injected: InjectedEventsFailure | undefined): Record<string, unknown> => {
    const entries = body['Entries'];
    if (!Array.isArray(entries) || entries.length < 1 || entries.length > MAX_ENTRIES) {
      throw new AwsError('ValidationException', `1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length between 1 and ${MAX_ENTRIES}`);
    }
    for (const entry of entries as Entry[]) {
      const bus = busName(entry['EventBusName']);
      if (!buses.has(bus)) throw new AwsError('ResourceNotFoundException', `Event bus ${bus} does not exist.`);
    }
    let failed = 0;
    const results = (entries as Entry[]).map((entry) => {
      if (injected) {
        failed++;
        return { ErrorCode: injected.type, ErrorMessage: `Injected ${injected.type}` };
      }
      const problem = entryProblem(entry);
      if (problem) {
        failed++;
        return { ErrorCode: 'InvalidArgument', ErrorMessage: problem };
      }
      const time = typeof entry['Time'] === 'number' ? new Date(entry['Time'] * 1000) : new Date();
      const event: CapturedEvent = {
        id: randomUUID(),
        source: entry['Source'] as string,
        'detail-type': entry['DetailType'] as string,
        time: time.toISOString().replace(/\.\d{3}Z$/, 'Z'),
        region,
        account,
        resources: Array.isArray(entry['Resources']) ? (entry['Resources'] as string[]) : [],
        detail: JSON.parse(entry['Detail'] as string) as Record<string, unknown>,
        eventBusName: busName(entry['EventBusName']),
      };
      events.push(event);
      options.onEvent?.(event);
      return { EventId: event.id };
    });
    return { FailedEntryCount: failed, Entries: results };
  };

  const send = (res: ServerResponse, status: number, body: unknown): void => {
    const payload = JSON.stringify(body);
    res.writeHead(status, { 'content-type': CONTENT_TYPE, 'content-length': Buffer.byteLength(payload), 'x-amzn-requestid': randomUUID() });
    res.end(payload);
  };
  const sendError = (res: ServerResponse, err: AwsError): void => send(res, err.status, { __type: err.type, message: err.message });

  const handle = (req: IncomingMessage, res: ServerResponse, raw: Buffer): void => {
    const target = String(req.headers['x-amz-target'] ?? '');
    if (req.method !== 'POST' || target !== 'AWSEvents.PutEvents') {
      return sendError(res, new AwsError('UnknownOperationException', `Unknown operation ${target || '(no X-Amz-Target)'}: this stand-in speaks PutEvents only`));
    }
    let body: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(raw.toString('utf8'));
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      body = parsed as Record<string, unknown>;
    } catch {
      return sendError(res, new AwsError('SerializationException', 'Request body must be a JSON object'));
    }
    const pending = failures[0];
    if (pending && --pending.remaining <= 0) failures = failures.slice(1);
    const injected = pending?.failure;
    calls.push({ entries: Array.isArray(body['Entries']) ? body['Entries'].length : 0, failedWith: injected?.type });
    if (injected && (injected.scope ?? 'call') === 'call') {
      return sendError(res, new AwsError(injected.type, `Injected ${injected.type}`, /^Internal/.test(injected.type) ? 500 : 400));
    }
    try {
      send(res, 200, putEvents(body, injected));
    } catch (err) {
      if (err instanceof AwsError) return sendError(res, err);
      sendError(res, new AwsError('InternalException', err instanceof Error ? err.message : String(err), 500));
    }
  };

  const server = createServer((req, res) => {
    readBoundedBody(req, MAX_BODY_BYTES).then(
      (body) => (body === undefined ? sendError(res, new AwsError('ValidationException', `Total size of the entries in the request is over the limit (${MAX_BODY_BYTES} bytes)`, 413)) : handle(req, res, body)),
      () => res.destroy(),
    );
  });
  const address = await listenOnLoopback(server, options.port ?? 0);
  return {
    url: `http://127.0.0.1:${address.port}`,
    port: address.port,
    events,
    calls,
    failNext(failure) {
      failures.push({ failure, remaining: failure.times ?? 1 });
    },
    clear() {
      events.length = 0;
      calls.length = 0;
      failures = [];
    },
    stop: serverStopper(server),
  };
}

function entryProblem(entry: Entry): string | undefined {
  for (const field of ['Source', 'DetailType', 'Detail']) {
    if (typeof entry[field] !== 'string' || entry[field] === '') return `Parameter ${field} is not valid.`;
  }
  try {
    const detail: unknown = JSON.parse(entry['Detail'] as string);
    if (!detail || typeof detail !== 'object' || Array.isArray(detail)) return 'Detail is not a JSON object.';
  } catch {
    return 'Detail is malformed.';
  }
  return undefined;
}
