/**
 * A fault-injecting HTTP proxy in front of a local AWS emulator (dynalite, fauxqs): requests pass
 * through unchanged, except the ones a rule matches, which get the AWS error reply the rule names
 * (`ThrottlingException` 400, `InternalServerError` 500, ...). The real handler's SDK clients are
 * pointed at it through the environment, so failures arrive exactly as they would from AWS, after
 * the SDK's own retries (the fault world runs with AWS_MAX_ATTEMPTS=1).
 *
 * SQS clients send to the QueueUrl's host, so the proxy also rewrites its own URL to the
 * upstream's in request bodies (and back in responses).
 */
import { createServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { listenOnLoopback } from '../../../local/loopback.js';

export interface FaultRule {
  /** The `X-Amz-Target` header, e.g. `DynamoDB_20120810.UpdateItem`, `AmazonSQS.SendMessage`. */
  readonly target: string;
  /** Only requests whose body contains this string (e.g. the idempotency table's settle expression). */
  readonly bodyIncludes?: string;
  /** The AWS error code, e.g. `ThrottlingException`, `InternalServerError`. */
  readonly type: string;
  /** @default 500 for types starting with `Internal`, else 400 */
  readonly status?: number;
  /** How many matching requests fail. @default 1 */
  readonly times?: number;
}

export interface ProxiedRequest {
  readonly target: string;
  readonly body: string;
  /** The error type injected, when the request was failed on purpose. */
  readonly failedWith?: string;
}

export interface AwsFaultProxy {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** Every request seen, in order. */
  readonly requests: ProxiedRequest[];
  failNext(rule: FaultRule): void;
  /** Forget pending rules. */
  clearFaults(): void;
  /** The requests to `target` (optionally containing `bodyIncludes`) since the proxy started. */
  count(target: string, bodyIncludes?: string): number;
  stop(): Promise<void>;
}

/**
 * @example
 * const proxy = await startAwsFaultProxy(world.dynamo.endpoint);
 * process.env.AWS_ENDPOINT_URL_DYNAMODB = proxy.url;
 * proxy.failNext({ target: 'DynamoDB_20120810.BatchGetItem', type: 'ThrottlingException' });
 */
export async function startAwsFaultProxy(upstream: string): Promise<AwsFaultProxy> {
  const target = new URL(upstream);
  const requests: ProxiedRequest[] = [];
  let rules: { rule: FaultRule; remaining: number }[] = [];
  let selfUrl = '';

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf-8');
      const amzTarget = String(req.headers['x-amz-target'] ?? '');
      const entry = rules.find(({ rule }) => rule.target === amzTarget && (rule.bodyIncludes === undefined || body.includes(rule.bodyIncludes)));
      if (entry) {
        entry.remaining -= 1;
        if (entry.remaining <= 0) rules = rules.filter((r) => r !== entry);
        requests.push({ target: amzTarget, body, failedWith: entry.rule.type });
        const payload = JSON.stringify({ __type: entry.rule.type, message: `Injected ${entry.rule.type}` });
        res.writeHead(entry.rule.status ?? (entry.rule.type.startsWith('Internal') ? 500 : 400), {
          'content-type': 'application/x-amz-json-1.0',
          'content-length': Buffer.byteLength(payload),
          'x-amzn-requestid': `fault-${requests.length}`,
          'x-amzn-errortype': entry.rule.type,
        });
        res.end(payload);
        return;
      }
      requests.push({ target: amzTarget, body });
      const forwarded = Buffer.from(body.split(`${selfUrl}/`).join(`${upstream}/`), 'utf-8');
      const headers: IncomingHttpHeaders = { ...req.headers, host: target.host, 'content-length': String(forwarded.length) };
      const upstreamRequest = httpRequest(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers },
        (upstreamResponse) => {
          const parts: Buffer[] = [];
          upstreamResponse.on('data', (chunk: Buffer) => parts.push(chunk));
          upstreamResponse.on('end', () => {
            const reply = Buffer.from(Buffer.concat(parts).toString('utf-8').split(`${upstream}/`).join(`${selfUrl}/`), 'utf-8');
            const replyHeaders = { ...upstreamResponse.headers, 'content-length': String(reply.length) };
            delete replyHeaders['transfer-encoding'];
            res.writeHead(upstreamResponse.statusCode ?? 502, replyHeaders);
            res.end(reply);
          });
        },
      );
      upstreamRequest.on('error', (error) => {
        res.writeHead(502);
        res.end(String(error));
      });
      upstreamRequest.end(forwarded);
    });
  });

  const address = await listenOnLoopback(server);
  selfUrl = `http://127.0.0.1:${address.port}`;
  let stopping: Promise<void> | undefined;

  return {
    url: selfUrl,
    requests,
    failNext(rule) {
      rules.push({ rule, remaining: rule.times ?? 1 });
    },
    clearFaults() {
      rules = [];
    },
    count(amzTarget, bodyIncludes) {
      return requests.filter((r) => r.target === amzTarget && (bodyIncludes === undefined || r.body.includes(bodyIncludes))).length;
    },
    stop() {
      stopping ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return stopping;
    },
  };
}
