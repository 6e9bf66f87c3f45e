import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { listenOnLoopback, readBoundedBody } from './loopback.js';

/**
 * A local stand-in for AWS Lambda's Invoke API: a node:http server on 127.0.0.1 speaking the
 * REST-JSON protocol (`POST /2015-03-31/functions/<name>/invocations`) well enough for the real
 * `@aws-sdk/client-lambda` client, pointed at it with `endpoint: url` or
 * `AWS_ENDPOINT_URL_LAMBDA`. Functions are JavaScript handlers registered by name; request
 * signatures are not checked. Used for function auth hooks (`auth.hookFunction`).
 *
 * - A handler's return value is the payload (JSON); `undefined` returns `null`, as Lambda does.
 * - A handler that throws answers 200 with `X-Amz-Function-Error: Unhandled` and
 *   `{ errorType, errorMessage }`, as Lambda does.
 * - An unknown function answers 404 `ResourceNotFoundException`; `throttleNext(n)` makes the next
 *   n invocations answer 429 `TooManyRequestsException`.
 * A full ARN (`arn:aws:lambda:…:function:name[:qualifier]`) or `name:qualifier` is matched by name,
 * both when invoked and when registered (`functions`, `setFunction`): either form reaches the same function.
 */

/** A function of the stand-in: receives the parsed JSON payload. */
export type LocalFunction = (payload: unknown) => unknown;

export interface LambdaInvocation {
  /** The function name as sent (ARN or name). */
  readonly functionName: string;
  /** The parsed payload. */
  readonly payload: unknown;
  /** Raw payload text, to check what was (not) sent. */
  readonly raw: string;
  readonly outcome: 'ok' | 'function-error' | 'not-found' | 'throttled';
  readonly at: Date;
}

export interface LambdaEndpoint {
  /** `http://127.0.0.1:<port>`: the `endpoint` for the SDK client. */
  readonly url: string;
  readonly port: number;
  /** Every invocation, in order (live array). */
  readonly invocations: LambdaInvocation[];
  /** Registers or replaces a function, by name or ARN (kept under its name). */
  setFunction(name: string, fn: LocalFunction): void;
  /** The next `times` invocations answer 429 TooManyRequestsException. */
  throttleNext(times?: number): void;
  stop(): Promise<void>;
}

/** Largest synchronous payload Lambda takes (6 MB). */
const MAX_PAYLOAD_BYTES = 6 * 1024 * 1024;
const PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/;

export async function startLambdaEndpoint(options: { functions?: Record<string, LocalFunction>; port?: number } = {}): Promise<LambdaEndpoint> {
  // Registered by the function's name, as they are looked up: `--auth-hook-function` may name a
  // function by its ARN (what a config's `hookFunction` often holds) or by its name.
  const functions = new Map(Object.entries(options.functions ?? {}).map(([name, fn]) => [nameOf(name), fn] as const));
  const invocations: LambdaInvocation[] = [];
  let throttles = 0;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const match = PATH.exec((req.url ?? '').split('?')[0] ?? '');
    if (req.method !== 'POST' || !match) return sendError(res, 400, 'InvalidRequestContentException', `unsupported request ${req.method} ${req.url}`);
    const functionName = decodeURIComponent(match[1]!);
    const body = await readBoundedBody(req, MAX_PAYLOAD_BYTES);
    if (!body) return sendError(res, 413, 'RequestTooLargeException', 'payload larger than 6 MB');
    const raw = body.toString('utf8');
    let payload: unknown = null;
    try {
      payload = raw.trim() === '' ? null : JSON.parse(raw);
    } catch {
      return sendError(res, 400, 'InvalidRequestContentException', 'could not parse request body into json');
    }
    const record = (outcome: LambdaInvocation['outcome']): void => {
      invocations.push({ functionName, payload, raw, outcome, at: new Date() });
    };
    if (throttles > 0) {
      throttles -= 1;
      record('throttled');
      return sendError(res, 429, 'TooManyRequestsException', 'Rate exceeded');
    }
    const fn = functions.get(nameOf(functionName));
    if (!fn) {
      record('not-found');
      return sendError(res, 404, 'ResourceNotFoundException', `Function not found: ${functionName}`);
    }
    try {
      const result = await fn(payload);
      record('ok');
      res.writeHead(200, { 'content-type': 'application/json', 'x-amz-executed-version': '$LATEST' }).end(JSON.stringify(result ?? null));
    } catch (error) {
      record('function-error');
      const err = error instanceof Error ? error : new Error(String(error));
      res
        .writeHead(200, { 'content-type': 'application/json', 'x-amz-function-error': 'Unhandled', 'x-amz-executed-version': '$LATEST' })
        .end(JSON.stringify({ errorType: err.name, errorMessage: err.message, trace: [] }));
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendError(res, 500, 'ServiceException', (error as Error).message);
    });
  });
  const address = await listenOnLoopback(server, options.port ?? 0);
  return {
    url: `http://127.0.0.1:${address.port}`,
    port: address.port,
    invocations,
    setFunction(name, fn) {
      functions.set(nameOf(name), fn);
    },
    throttleNext(times = 1) {
      throttles += times;
    },
    stop() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A function for the stand-in from a module file exporting a Lambda `handler(event)` (`npm start --
 * --auth-hook-function NAME=FILE`): it is called with the parsed payload as its event.
 * @throws Error naming the file when it does not exist, cannot be imported or exports no `handler`.
 */
export async function loadLocalFunction(file: string, cwd = process.cwd()): Promise<LocalFunction> {
  const path = resolve(cwd, file);
  if (!existsSync(path)) throw new Error(`function ${file}: no such file`);
  let loaded: Record<string, unknown>;
  try {
    loaded = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (error) {
    throw new Error(`function ${file}: could not be loaded: ${(error as Error).message}`, { cause: error });
  }
  const handler = loaded['handler'];
  if (typeof handler !== 'function') throw new Error(`function ${file}: exports no function handler(event)`);
  return (payload) => (handler as (event: unknown, context: unknown) => unknown)(payload, {});
}

/** `arn:aws:lambda:r:a:function:name:qual` / `a:function:name` / `name:qual` → `name`. */
function nameOf(functionName: string): string {
  const afterFunction = functionName.includes(':function:') ? functionName.split(':function:')[1]! : functionName;
  return afterFunction.split(':')[0]!;
}

function sendError(res: ServerResponse, status: number, type: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'x-amzn-errortype': type }).end(JSON.stringify({ Type: 'User', message }));
}
