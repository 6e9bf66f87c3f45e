/**
 * `npm start`: the whole worker on one machine. Starts, in this process and on 127.0.0.1 only,
 * an SQS emulator (fauxqs) with the queue and its DLQ, a DynamoDB emulator (dynalite) seeded from
 * `local/config.json`, a Secrets Manager / SSM endpoint seeded from `local/secrets.json`, an S3
 * stand-in holding the payload bucket (large messages, docs/payloads.md), and an
 * SMTP relay that demands STARTTLS + AUTH, and an EventBridge PutEvents stand-in that prints each
 * delivery event as it happens (local/eventsEndpoint.ts); then enqueues `local/sample-message.json` and runs the
 * real Lambda handler (lambda/handlers/relay.ts) against the queue until Ctrl-C.
 *
 * Options: `--once` (exit 0 after the sample is delivered, 1 if it is not within 30 s), `--help`
 * and more: see USAGE below.
 *
 * `local/config.json` holds config items in the production format. Two placeholders are filled in
 * at start: the string `"${LOCAL_RELAY_HOST}"` becomes the local relay's host and
 * `"${LOCAL_RELAY_PORT}"` its port (a number). Point an item at a real relay by writing its host
 * and port instead, and its credentials into `local/secrets.json`.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { SQSEvent } from 'aws-lambda';
import { lambdaContext } from '../cli/lambdaContext.js';
import { formatLoggerOutput } from '../cli/output/workerLog.js';
import { fillPlaceholders, relayPlaceholders } from '../cli/placeholders.js';
import { parseConfigItem, type ConfigItem } from '../lambda/core/config/schema.js';
import { isSubmitterScope, parseSubmitterItem, type SubmitterItem } from '../lambda/core/config/submitter.js';
import { ConfigValidationError, MessageValidationError, formatIssues } from '../lambda/core/errors.js';
import { parseQueueMessage } from '../lambda/core/message/index.js';
import { pollForever, type PollResult } from '../lambda/adapters/sqsPoller.js';
import { loadAuthHook } from '../lambda/handlers/loadAuthHook.js';
import { idempotencyRecordId } from '../lambda/worker/idempotencyScope.js';
import { LOCAL_AWS_CREDENTIALS, LOCAL_AWS_REGION, localAwsClientConfig } from './awsClientConfig.js';
import { createConfigTable, createIdempotencyTable, createQueues, createRelayStateTable, startDynamo, startSqs, type LocalEmulator } from './emulators.js';
import { startS3Endpoint, type S3Endpoint } from './s3Endpoint.js';
import { startEventsEndpoint, type CapturedEvent, type EventsEndpoint } from './eventsEndpoint.js';
import { startLocalGateway, type LocalGateway } from './gateway.js';
import { loadLocalFunction, startLambdaEndpoint, type LambdaEndpoint, type LocalFunction } from './lambdaEndpoint.js';
import { startSecretsEndpoint, type SecretsEndpoint } from './secretsEndpoint.js';
import { startSmtpRelay, type SmtpRelay } from './smtpRelay.js';
import { STATE_VERSION, removeState, stateFilePath, writeState, type LocalState } from './state.js';

const here = (file: string): string => fileURLToPath(new URL(file, import.meta.url));

/** The files `npm start` reads by default. */
export const DEFAULT_CONFIG_FILE = here('./config.json');
export const DEFAULT_SECRETS_FILE = here('./secrets.json');
export const DEFAULT_SAMPLE_MESSAGE_FILE = here('./sample-message.json');
export const LOCAL_CA_FILE = here('./certs/ca.pem');

export const LOCAL_QUEUE_NAME = 'mailrelay';
export const LOCAL_CONFIG_TABLE = 'mailrelay-config';
export const LOCAL_IDEMPOTENCY_TABLE = 'mailrelay-idempotency';
export const LOCAL_RELAY_STATE_TABLE = 'mailrelay-relay-state';
/** The payload bucket on the S3 stand-in: `mailrelay --local enqueue` and the gateway offload bodies above 256 KiB to it. */
export const LOCAL_PAYLOAD_BUCKET = 'mailrelay-payloads';
export const LOCAL_MAX_RECEIVE_COUNT = 3;
export const LOCAL_VISIBILITY_TIMEOUT_SECONDS = 30;
export const LOCAL_SECRET_PREFIX = 'mailrelay/';
/** The local event bus delivery events are put on (EVENT_BUS_NAME). */
export const LOCAL_EVENT_BUS = 'mailrelay-events';
/** How long `--once` waits for the sample to be delivered. */
export const ONCE_TIMEOUT_MS = 30_000;
/** A second Ctrl-C sooner than this after the first is the same keypress relayed by npm or tsx. */
const FORCE_AFTER_MS = 500;
/** Long-poll wait of the local worker: short, so Ctrl-C stops it within a second. */
const LOCAL_WAIT_SECONDS = 1;

/** Options of {@link startLocalStack}; every field is optional. */
export interface LocalStackOptions {
  /** Config items to seed (a JSON array, or one item).  @default local/config.json */
  configFile?: string;
  /** `{ "secrets": { name: string | object }, "parameters": { name: string } }`.  @default local/secrets.json */
  secretsFile?: string;
  /** Where to write the endpoints for `mailrelay --local`; `false` writes none.  @default `$MAILRELAY_LOCAL_STATE` or .local-state/endpoints.json */
  stateFile?: string | false;
  /** Run the worker (the Lambda handler polling the queue).  @default true */
  worker?: boolean;
  /** How the worker's log records are shown: one short line each, the handler's JSON, or not at all.  @default 'pretty' */
  workerLogs?: 'pretty' | 'json' | 'silent';
  /** Where the relay's and the worker's lines go.  @default console.log */
  print?: (line: string) => void;
  /** Port of the local SMTP relay.  @default 0 (ephemeral) */
  relayPort?: number;
  /** An auth hook module (exports `outboundSmtpAuthConfig`) the worker loads, as the stack bundles `authHook.entry`.  @default none */
  authHookFile?: string;
  /**
   * Function hooks (`auth.hookFunction`, docs/auth-hook.md) the local Lambda Invoke stand-in serves:
   * function name → a module file exporting `handler(event)`. The worker and `mailrelay --local`
   * invoke them there.  @default none (no Lambda stand-in)
   */
  authHookFunctions?: Readonly<Record<string, string>>;
  /** Run `mailrelay gateway` on loopback (needs a submitter# item in the config file).  @default true */
  gateway?: boolean;
  /** Port of the gateway (STARTTLS).  @default 0 (ephemeral) */
  gatewayPort?: number;
}

/** A running local stack. */
export interface LocalStack {
  /** What the state file holds (endpoints, queue URLs, table names). */
  readonly state: LocalState;
  /** The state file written, if any. */
  readonly stateFile: string | undefined;
  readonly relay: SmtpRelay;
  readonly secrets: SecretsEndpoint;
  /** The S3 stand-in holding the payload bucket. */
  readonly s3: S3Endpoint;
  /** The EventBridge stand-in: every delivery event the worker published (`events.events`). */
  readonly events: EventsEndpoint;
  /** The Lambda Invoke stand-in serving `authHookFunctions`, if any (`lambda.invocations`), and their names. */
  readonly lambda: LambdaEndpoint | undefined;
  readonly authHookFunctions: readonly string[];
  readonly sqs: SQSClient;
  readonly dynamo: DynamoDBDocumentClient;
  /** The validated items seeded into the config table. */
  readonly configItems: readonly ConfigItem[];
  /** The submitter# items seeded beside them (the gateway's, docs/design.md §3.1). */
  readonly submitters: readonly SubmitterItem[];
  /** The SMTP submission gateway and its demo submitter, when it runs. */
  readonly gateway: LocalGateway | undefined;
  /** Secret names seeded, and the users the local relay accepts (from local/secrets.json). */
  readonly secretNames: readonly string[];
  readonly relayUsers: readonly string[];
  /** Problems worth a warning (e.g. a secret outside the prefix the worker may read). */
  readonly warnings: readonly string[];
  /** Batches the worker processed so far. */
  readonly batches: readonly PollResult[];
  /**
   * Validates a queue message and sends it to the queue; resolves with the SQS id, the idempotency
   * key and its record id in the idempotency table (`<binding>#<key>`).
   */
  enqueue(body: string): Promise<{ messageId: string; idempotencyKey: string; recordId: string }>;
  /** The idempotency table's status of a record id (`<binding>#<key>`): `delivered`, `dead-lettered`, `pending`, `in-progress`, or undefined. */
  deliveryStatus(recordId: string): Promise<string | undefined>;
  /** Messages waiting in the DLQ (approximate, as SQS counts). */
  deadLetterCount(): Promise<number>;
  /** Stops the worker, then every stand-in, and removes the state file. Idempotent. */
  stop(): Promise<void>;
}

/** A local file that cannot be used, with every problem listed. */
export class LocalFileError extends Error {
  public constructor(
    public readonly file: string,
    public readonly problems: readonly string[],
  ) {
    super(`${file}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'LocalFileError';
  }
}

let handlerLoaded = false;

/**
 * Starts the stand-ins, seeds them and (by default) the worker. The handler reads its settings from
 * the environment once per process, as in Lambda, so there is one local stack per process.
 *
 * @example
 * ```ts
 * const stack = await startLocalStack({ stateFile: false, workerLogs: 'silent', print: () => {} });
 * await stack.enqueue(readFileSync('local/sample-message.json', 'utf8'));
 * await stack.relay.waitForMessages(2, 10_000);
 * await stack.stop();
 * ```
 */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  // The SDK's notice about its future Node support says nothing about this stack.
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
  const wantWorker = options.worker ?? true;
  if (wantWorker && handlerLoaded) throw new Error('one local stack with a worker per process: the handler reads its settings once, as in Lambda');
  const print = options.print ?? ((line: string) => console.log(line));
  const configFile = options.configFile ?? DEFAULT_CONFIG_FILE;
  const secretsFile = options.secretsFile ?? DEFAULT_SECRETS_FILE;
  const warnings: string[] = [];

  // Read and check both files before anything starts: a typo should cost no port.
  const secretsSeed = readSecretsFile(secretsFile);
  const rawItems = readConfigFile(configFile);
  warnings.push(...secretsSeed.warnings);
  const functions: Record<string, LocalFunction> = {};
  for (const [name, file] of Object.entries(options.authHookFunctions ?? {})) {
    try {
      functions[name] = await loadLocalFunction(file);
    } catch (error) {
      throw new LocalFileError(file, [`--auth-hook-function ${name}: ${(error as Error).message}`]);
    }
  }

  const stoppers: Array<() => Promise<void> | void> = [];
  const stopAll = async (): Promise<void> => {
    for (const stop of stoppers.splice(0).reverse()) {
      try {
        await stop();
      } catch {
        // stopping is best effort: the rest must still stop
      }
    }
  };

  try {
    const relay = await startSmtpRelay({ users: secretsSeed.relayUsers, printMessages: (line) => print(line), port: options.relayPort ?? 0 });
    stoppers.push(() => relay.stop());
    const { items: configItems, submitters } = validateConfigItems(configFile, rawItems, relay);

    const [dynamoEmulator, sqsEmulator, secrets, events, s3] = await Promise.all([
      startDynamo(),
      startSqs(),
      startSecretsEndpoint({ secrets: secretsSeed.secrets, parameters: secretsSeed.parameters, region: LOCAL_AWS_REGION }),
      startEventsEndpoint({ buses: [LOCAL_EVENT_BUS], region: LOCAL_AWS_REGION, onEvent: (event) => print(describeEvent(event)) }),
      startS3Endpoint({ buckets: [LOCAL_PAYLOAD_BUCKET] }),
    ]);
    stoppers.push(() => dynamoEmulator.stop(), () => sqsEmulator.stop(), () => secrets.stop(), () => events.stop(), () => s3.stop());
    const lambda = Object.keys(functions).length > 0 ? await startLambdaEndpoint({ functions }) : undefined;
    if (lambda) stoppers.push(() => lambda.stop());

    const dynamoClient = new DynamoDBClient(localAwsClientConfig(dynamoEmulator.endpoint));
    const dynamo = DynamoDBDocumentClient.from(dynamoClient, { marshallOptions: { removeUndefinedValues: true } });
    const sqs = new SQSClient(localAwsClientConfig(sqsEmulator.endpoint));
    stoppers.push(() => {
      dynamoClient.destroy();
      sqs.destroy();
    });

    await Promise.all([
      createConfigTable(dynamoClient, LOCAL_CONFIG_TABLE),
      createIdempotencyTable(dynamoClient, LOCAL_IDEMPOTENCY_TABLE),
      createRelayStateTable(dynamoClient, LOCAL_RELAY_STATE_TABLE),
    ]);
    const updatedAt = new Date().toISOString();
    for (const item of [...configItems, ...submitters]) await dynamo.send(new PutCommand({ TableName: LOCAL_CONFIG_TABLE, Item: { ...item, updatedAt } }));
    const queues = await createQueues(sqs, { name: LOCAL_QUEUE_NAME, maxReceiveCount: LOCAL_MAX_RECEIVE_COUNT, visibilityTimeout: LOCAL_VISIBILITY_TIMEOUT_SECONDS });

    // The local relay's test CA; the worker trusts it in addition to the public roots, so a
    // config pointing at a real relay verifies too.
    const caBundle = LOCAL_CA_FILE;

    const state: LocalState = {
      version: STATE_VERSION,
      pid: process.pid,
      startedAt: new Date().toISOString(),
      region: LOCAL_AWS_REGION,
      endpoints: { sqs: sqsEmulator.endpoint, dynamodb: dynamoEmulator.endpoint, secrets: secrets.url, events: events.url, s3: s3.url, ...(lambda ? { lambda: lambda.url } : {}) },
      eventBus: LOCAL_EVENT_BUS,
      configTable: LOCAL_CONFIG_TABLE,
      idempotencyTable: LOCAL_IDEMPOTENCY_TABLE,
      relayStateTable: LOCAL_RELAY_STATE_TABLE,
      queueUrl: queues.queueUrl,
      queueArn: queues.queueArn,
      dlqUrl: queues.dlqUrl,
      dlqArn: queues.dlqArn,
      relay: { host: relay.host, port: relay.port, tls: relay.tls },
      caFile: LOCAL_CA_FILE,
      secretPrefix: LOCAL_SECRET_PREFIX,
      payloadBucket: LOCAL_PAYLOAD_BUCKET,
    };

    let gateway: LocalGateway | undefined;
    if ((options.gateway ?? true) && submitters[0]) {
      gateway = await startLocalGateway({
        sqs,
        dynamo,
        secretsUrl: secrets.url,
        queueUrl: queues.queueUrl,
        configTable: LOCAL_CONFIG_TABLE,
        secretPrefix: LOCAL_SECRET_PREFIX,
        s3Url: s3.url,
        payloadBucket: LOCAL_PAYLOAD_BUCKET,
        demo: submitters[0],
        port: options.gatewayPort ?? 0,
        print: options.workerLogs === 'silent' ? undefined : print,
      });
      stoppers.push(() => gateway?.stop());
      Object.assign(state, { gateway: gateway.endpoint });
    }

    const batches: PollResult[] = [];
    if (wantWorker) {
      const stopWorker = await startWorker({
        state,
        sqs,
        caBundle,
        emulators: { dynamo: dynamoEmulator, sqs: sqsEmulator },
        secrets,
        print,
        logs: options.workerLogs ?? 'pretty',
        batches,
        authHookFile: options.authHookFile,
      });
      // stops first (stoppers run in reverse): nothing polls a stopped emulator
      stoppers.push(stopWorker);
    }

    const stateFile = options.stateFile === false ? undefined : stateFilePath(options.stateFile);
    if (stateFile) {
      writeState(stateFile, state);
      stoppers.push(() => removeState(stateFile));
    }

    let stopping: Promise<void> | undefined;
    return {
      state,
      stateFile,
      relay,
      secrets,
      s3,
      events,
      lambda,
      authHookFunctions: Object.keys(functions),
      sqs,
      dynamo,
      configItems,
      submitters,
      gateway,
      secretNames: Object.keys(secretsSeed.secrets),
      relayUsers: Object.keys(secretsSeed.relayUsers),
      warnings,
      batches,
      async enqueue(body) {
        const fallback = `local-${randomUUID()}`;
        const parsed = parseQueueMessage(body, { fallbackIdempotencyKey: fallback });
        const sent = await sqs.send(new SendMessageCommand({ QueueUrl: queues.queueUrl, MessageBody: body }));
        const messageId = sent.MessageId ?? '';
        const idempotencyKey = parsed.idempotencyKey === fallback ? messageId : parsed.idempotencyKey;
        return { messageId, idempotencyKey, recordId: idempotencyRecordId({ binding: parsed.binding, idempotencyKey }) };
      },
      async deliveryStatus(recordId) {
        const { Item } = await dynamo.send(new GetCommand({ TableName: LOCAL_IDEMPOTENCY_TABLE, Key: { id: recordId }, ConsistentRead: true }));
        return typeof Item?.['status'] === 'string' ? Item['status'] : undefined;
      },
      async deadLetterCount() {
        const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queues.dlqUrl, AttributeNames: ['ApproximateNumberOfMessages'] }));
        return Number(Attributes?.ApproximateNumberOfMessages ?? 0);
      },
      stop() {
        stopping ??= stopAll();
        return stopping;
      },
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

interface WorkerWiring {
  state: LocalState;
  sqs: SQSClient;
  caBundle: string;
  emulators: { dynamo: LocalEmulator; sqs: LocalEmulator };
  secrets: SecretsEndpoint;
  print: (line: string) => void;
  logs: 'pretty' | 'json' | 'silent';
  batches: PollResult[];
  authHookFile?: string | undefined;
}

/** Sets the handler's environment as the CDK stack sets the function's, loads it and polls. */
async function startWorker(w: WorkerWiring): Promise<() => Promise<void>> {
  Object.assign(process.env, {
    AWS_REGION: LOCAL_AWS_REGION,
    AWS_ACCESS_KEY_ID: LOCAL_AWS_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_AWS_CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT_URL_DYNAMODB: w.emulators.dynamo.endpoint,
    AWS_ENDPOINT_URL_SQS: w.emulators.sqs.endpoint,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: w.secrets.url,
    AWS_ENDPOINT_URL_SSM: w.secrets.url,
    AWS_ENDPOINT_URL_S3: w.state.endpoints.s3,
    PAYLOAD_BUCKET_NAME: w.state.payloadBucket,
    AWS_ENDPOINT_URL_EVENTBRIDGE: w.state.endpoints.events,
    // Function hooks (auth.hookFunction) go to the Lambda stand-in, when it runs.
    ...(w.state.endpoints.lambda ? { AWS_ENDPOINT_URL_LAMBDA: w.state.endpoints.lambda } : {}),
    EVENT_BUS_NAME: w.state.eventBus,
    CONFIG_TABLE_NAME: w.state.configTable,
    IDEMPOTENCY_TABLE_NAME: w.state.idempotencyTable,
    RELAY_STATE_TABLE_NAME: w.state.relayStateTable,
    DEAD_LETTER_QUEUE_URL: w.state.dlqUrl,
    QUEUE_URL: w.state.queueUrl,
    SECRET_PREFIX: w.state.secretPrefix,
    // no caches: `mailrelay --local config put` and secret changes apply to the next message
    CONFIG_CACHE_TTL_SECONDS: '0',
    SECRET_CACHE_TTL_SECONDS: '0',
    MAX_RECEIVE_COUNT: String(LOCAL_MAX_RECEIVE_COUNT),
    RELAY_CA_FILE: w.caBundle,
    POWERTOOLS_SERVICE_NAME: 'mailrelay',
    // --json-logs shows the records as CloudWatch gets them, EMF metric documents included; the
    // short lines leave the metrics out
    POWERTOOLS_METRICS_DISABLED: w.logs === 'json' ? 'false' : 'true',
    // Lambda sets it; Powertools reports cold_start (and the ColdStart metric) only when it is 'on-demand'
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
  });
  delete process.env['AWS_SESSION_TOKEN'];
  delete process.env['AWS_PROFILE'];
  handlerLoaded = true;
  const { handler, logger, useAuthHook } = await import('../lambda/handlers/relay.js');
  if (w.authHookFile) {
    useAuthHook(await loadAuthHook(w.authHookFile));
    w.print(`[worker] auth hook: ${w.authHookFile}`);
  }
  const output = w.logs === 'json' ? undefined : formatLoggerOutput(logger, w.logs === 'silent' ? () => undefined : w.print, { dlqCommand: 'npx mailrelay --local dlq list' });
  if (output && !output.formatted) w.print('[worker] (this Powertools version cannot be reformatted: showing its JSON lines)');

  const abort = new AbortController();
  const invoke = (event: SQSEvent, context: { getRemainingTimeInMillis(): number }) => handler(event, lambdaContext(context.getRemainingTimeInMillis));
  const polling = pollForever(invoke, {
    client: w.sqs,
    queueUrl: w.state.queueUrl,
    queueArn: w.state.queueArn,
    waitTimeSeconds: LOCAL_WAIT_SECONDS,
    signal: abort.signal,
    onBatch: (result) => w.batches.push(result),
    onError: (error) => w.print(`[worker] poll failed: ${error instanceof Error ? error.message : String(error)} (retrying)`),
  });
  return async () => {
    abort.abort();
    await polling;
    output?.restore();
  };
}

interface SecretsSeed {
  secrets: Record<string, string>;
  parameters: Record<string, string>;
  relayUsers: Record<string, string>;
  warnings: string[];
}

/**
 * local/secrets.json: `{ "secrets": { "<name>": "<string>" | { ...JSON secret } }, "parameters": { "<name>": "<string>" } }`.
 * Every JSON secret with a string `username` and `password` is also a user of the local relay.
 */
export function readSecretsFile(file: string): SecretsSeed {
  const json = readJson(file);
  const problems: string[] = [];
  const warnings: string[] = [];
  const seed: SecretsSeed = { secrets: {}, parameters: {}, relayUsers: {}, warnings };
  if (!isObject(json)) throw new LocalFileError(file, ['must be an object: { "secrets": { ... }, "parameters": { ... } }']);
  for (const key of Object.keys(json)) {
    if (key !== 'secrets' && key !== 'parameters') problems.push(`${key}: unknown field (expected "secrets" and "parameters")`);
  }
  const secrets = json['secrets'] ?? {};
  const parameters = json['parameters'] ?? {};
  if (!isObject(secrets)) problems.push('secrets: must be an object of secret name → string or JSON object');
  else {
    for (const [name, value] of Object.entries(secrets)) {
      if (typeof value === 'string') seed.secrets[name] = value;
      else if (isObject(value)) {
        seed.secrets[name] = JSON.stringify(value);
        const { username, password } = value;
        if (typeof username === 'string' && typeof password === 'string') seed.relayUsers[username] = password;
      } else problems.push(`secrets.${name}: must be a string or a JSON object`);
      if (!name.startsWith(LOCAL_SECRET_PREFIX)) warnings.push(`secret ${name} is outside the prefix "${LOCAL_SECRET_PREFIX}": the worker will refuse to read it`);
    }
  }
  if (!isObject(parameters)) problems.push('parameters: must be an object of parameter name → string');
  else {
    for (const [name, value] of Object.entries(parameters)) {
      if (typeof value === 'string') seed.parameters[name] = value;
      else problems.push(`parameters.${name}: must be a string`);
    }
  }
  if (problems.length) throw new LocalFileError(file, problems);
  return seed;
}

/** local/config.json: one item or an array of items, in the production format. */
export function readConfigFile(file: string): unknown[] {
  const json = readJson(file);
  return Array.isArray(json) ? json : [json];
}

/** Fills in the placeholders, then validates every item as `mailrelay config put` does. */
function validateConfigItems(file: string, raw: readonly unknown[], relay: Pick<SmtpRelay, 'host' | 'port'>): { items: ConfigItem[]; submitters: SubmitterItem[] } {
  const problems: string[] = [];
  const items: ConfigItem[] = [];
  const submitters: SubmitterItem[] = [];
  const seen = new Set<string>();
  raw.forEach((candidate, index) => {
    const filled = fillPlaceholders(candidate, relayPlaceholders(relay));
    try {
      const submitter = isSubmitterScope(filled) ? parseSubmitterItem(filled) : undefined;
      const item = submitter ?? parseConfigItem(filled);
      if (seen.has(item.scope)) problems.push(`[${index}] ${item.scope}: a second item for the same scope`);
      seen.add(item.scope);
      if (submitter) submitters.push(submitter);
      else items.push(item as ConfigItem);
    } catch (error) {
      if (!(error instanceof ConfigValidationError)) throw error;
      problems.push(`[${index}]${error.scope ? ` ${error.scope}` : ''}: ${formatIssues(error.issues)}`);
    }
  });
  if (problems.length) throw new LocalFileError(file, problems);
  return { items, submitters };
}

function readJson(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new LocalFileError(file, [`cannot read it: ${(error as Error).message}`]);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new LocalFileError(file, [`is not valid JSON: ${(error as Error).message}`]);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** One line per delivery event, as `npm start` prints them: `[events] Recipient Delivered bob@example.net 250 key=…`. */
export function describeEvent(event: CapturedEvent): string {
  const d = event.detail;
  const code = d['smtpCode'] !== undefined ? ` ${String(d['smtpCode'])}` : '';
  const reason = typeof d['reason'] === 'string' ? ` reason=${d['reason']}` : '';
  return `[events] ${event['detail-type']} ${String(d['recipient'])}${code}${reason} key=${String(d['idempotencyKey'])} attempt=${String(d['attempt'])}`;
}

/** The banner: what started where. */
export function describeStack(stack: LocalStack, cwd = process.cwd()): string[] {
  const { state } = stack;
  const rel = (file: string): string => relative(cwd, file) || file;
  const usesLocalRelay = (relay: ConfigItem['relay']): boolean =>
    (Array.isArray(relay) ? relay : relay ? [relay] : []).some((r) => r.host === state.relay.host && r.port === state.relay.port);
  const relayScopes = stack.configItems.filter((i) => usesLocalRelay(i.relay)).map((i) => i.scope);
  const lines = [
    'mailrelay: the worker and its AWS stand-ins, all in this process on 127.0.0.1',
    '',
    `  SQS (fauxqs)             ${state.endpoints.sqs}   queue ${LOCAL_QUEUE_NAME}, DLQ ${LOCAL_QUEUE_NAME}-dlq (maxReceiveCount ${LOCAL_MAX_RECEIVE_COUNT})`,
    `  DynamoDB (dynalite)      ${state.endpoints.dynamodb}   ${state.configTable}: ${stack.configItems.length + stack.submitters.length} items (${[...stack.configItems, ...stack.submitters].map((i) => i.scope).join(', ')})`,
    `  Secrets Manager + SSM    ${state.endpoints.secrets}   ${stack.secretNames.length} secrets (${stack.secretNames.join(', ')})`,
    `  S3 (local stand-in)      ${state.endpoints.s3 ?? ''}   payload bucket ${state.payloadBucket ?? ''} (bodies over 256 KiB: mailrelay --local enqueue and the gateway offload them)`,
    `  EventBridge (PutEvents)  ${state.endpoints.events}   bus ${state.eventBus}: each delivery event is printed as [events] ...`,
    `  SMTP relay               ${state.relay.host}:${state.relay.port}         STARTTLS + AUTH PLAIN/LOGIN required; users ${stack.relayUsers.join(', ') || '(none)'}`,
    `  worker                   lambda/handlers/relay.ts, polling ${LOCAL_QUEUE_NAME}`,
    ...(stack.lambda ? [`  Lambda (Invoke)          ${stack.lambda.url}   auth hook functions: ${stack.authHookFunctions.join(', ')}`] : []),
    ...(stack.gateway
      ? [
          `  SMTP gateway             ${stack.gateway.endpoint.host}:${stack.gateway.endpoint.port}         STARTTLS, then AUTH PLAIN; demo submitter ${stack.gateway.endpoint.user} / ${stack.gateway.endpoint.password}, MAIL FROM ${stack.gateway.endpoint.from}`,
        ]
      : []),
    '',
    relayScopes.length
      ? `  Config items using the local relay: ${relayScopes.join(', ')}`
      : '  No config item uses the local relay: messages go to the relays local/config.json names.',
  ];
  for (const warning of stack.warnings) lines.push(`  warning: ${warning}`);
  lines.push(`  In another terminal: npx mailrelay --local config list   (see npx mailrelay --help)`);
  if (stack.stateFile) lines.push(`  Endpoints for --local: ${rel(stack.stateFile)}`);
  lines.push('');
  return lines;
}

const USAGE = `Usage: npm start [-- OPTIONS]

Runs the worker with local stand-ins for SQS, DynamoDB, Secrets Manager and an SMTP relay,
enqueues local/sample-message.json and relays it. Ctrl-C stops everything. Everything listens
on 127.0.0.1 only.

Options:
  --once              exit 0 once the sample message is delivered, 1 if it is dead-lettered
                      or not delivered within --timeout
  --timeout SECONDS   how long --once waits (default 30)
  --no-sample         do not enqueue a sample message
  --config FILE       config items to seed (default local/config.json)
  --secrets FILE      secrets to seed (default local/secrets.json)
  --sample FILE       the message enqueued at start (default local/sample-message.json)
  --json-logs         print the worker's log records as JSON (as in CloudWatch)
  --state-file FILE   where to write the endpoints for \`mailrelay --local\`
                      (default: $MAILRELAY_LOCAL_STATE or .local-state/endpoints.json)
  --auth-hook FILE    an auth hook module exporting outboundSmtpAuthConfig(context)
                      (docs/auth-hook.md), as the stack bundles authHook.entry
  --auth-hook-function NAME=FILE
                      serve a function hook (NAME: a function name or ARN): config naming
                      auth.hookFunction NAME invokes
                      FILE's handler(event) through a local Lambda Invoke stand-in (repeatable)
  -h, --help          this text

Files: local/config.json (config items), local/secrets.json (secrets; every JSON secret with
"username" and "password" is a user of the local relay), local/sample-message.json.`;

/** `npm start`. Returns the exit code (when `--once`), or never returns until a signal. */
export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        once: { type: 'boolean', default: false },
        'no-sample': { type: 'boolean', default: false },
        timeout: { type: 'string' },
        config: { type: 'string' },
        secrets: { type: 'string' },
        sample: { type: 'string' },
        'json-logs': { type: 'boolean', default: false },
        'state-file': { type: 'string' },
        'auth-hook': { type: 'string' },
        'auth-hook-function': { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const timeoutMs = values.timeout === undefined ? ONCE_TIMEOUT_MS : Number(values.timeout) * 1000;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    console.error(`--timeout must be a positive number of seconds (got "${values.timeout}")`);
    return 2;
  }
  const sampleFile = values.sample ?? DEFAULT_SAMPLE_MESSAGE_FILE;
  const authHookFunctions: Record<string, string> = {};
  for (const spec of values['auth-hook-function'] ?? []) {
    const eq = spec.indexOf('=');
    if (eq <= 0 || eq === spec.length - 1) {
      console.error(`--auth-hook-function must be NAME=FILE (got "${spec}")`);
      return 2;
    }
    authHookFunctions[spec.slice(0, eq)] = spec.slice(eq + 1);
  }

  const started = Date.now();
  let stack: LocalStack;
  try {
    stack = await startLocalStack({
      workerLogs: values['json-logs'] ? 'json' : 'pretty',
      ...(values['state-file'] ? { stateFile: values['state-file'] } : {}),
      ...(values.config ? { configFile: values.config } : {}),
      ...(values.secrets ? { secretsFile: values.secrets } : {}),
      ...(values['auth-hook'] ? { authHookFile: values['auth-hook'] } : {}),
      ...(Object.keys(authHookFunctions).length ? { authHookFunctions } : {}),
    });
  } catch (error) {
    console.error(error instanceof LocalFileError ? `Cannot start: ${error.message}` : `Cannot start: ${(error as Error).stack ?? String(error)}`);
    return 1;
  }
  for (const line of describeStack(stack)) console.log(line);

  let stopping = false;
  const shutdown = async (why: string, code: number): Promise<never> => {
    if (stopping) process.exit(code);
    stopping = true;
    if (why) console.log(why);
    await stack.stop();
    process.exit(code);
  };
  // npm and tsx may pass the same Ctrl-C on again: only a second one a moment later forces the exit.
  let firstSignalAt = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (!firstSignalAt) {
      firstSignalAt = Date.now();
      void shutdown(signal === 'SIGINT' ? '\nStopping (Ctrl-C again to force)...' : 'Stopping...', 0);
    } else if (Date.now() - firstSignalAt > FORCE_AFTER_MS) process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let sample: { messageId: string; idempotencyKey: string; recordId: string } | undefined;
  if (!values['no-sample']) {
    try {
      sample = await stack.enqueue(readFileSync(sampleFile, 'utf8'));
      console.log(`Enqueued ${relative(process.cwd(), sampleFile) || sampleFile} (SQS id ${sample.messageId}) in ${Date.now() - started} ms since start.`);
    } catch (error) {
      const why = error instanceof MessageValidationError ? formatIssues(error.issues) : (error as Error).message;
      console.error(`Cannot enqueue ${sampleFile}: ${why}`);
      if (values.once) return shutdown('', 1);
    }
  }
  console.log(values.once ? 'Waiting for the delivery (--once)...\n' : 'Watching the queue. Ctrl-C to stop.\n');
  if (!values.once) return new Promise<number>(() => undefined);

  if (!sample) return shutdown('--once needs the sample message; drop --no-sample', 2);
  const outcome = await waitForOutcome(stack, sample.recordId, timeoutMs);
  if (outcome === 'delivered') return shutdown(`\nDelivered in ${Date.now() - started} ms since start. Stopping (--once).`, 0);
  if (outcome === 'dead-lettered') return shutdown('\nThe sample message was dead-lettered (see the reason above). Stopping (--once).', 1);
  return shutdown(`\nNothing delivered within ${timeoutMs / 1000} s (last status: ${outcome ?? 'not yet processed'}). Stopping (--once).`, 1);
}

/** Polls the idempotency record until it is settled for good or time runs out. */
async function waitForOutcome(stack: LocalStack, key: string, timeoutMs: number): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  let status: string | undefined;
  while (Date.now() < deadline) {
    status = await stack.deliveryStatus(key).catch(() => status);
    if (status === 'delivered' || status === 'dead-lettered') return status;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return status;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
