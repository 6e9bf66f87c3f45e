/**
 * A local stand-in for the S3 REST API subset mailrelay uses for large messages (docs/design.md
 * §1): a node:http server on 127.0.0.1 that the real `@aws-sdk/client-s3` talks to with
 * `endpoint: url, forcePathStyle: true` (or `AWS_ENDPOINT_URL_S3`), objects in memory.
 * Signatures are not checked (any static dummy credentials do).
 *
 * Operations (path-style `/<bucket>/<key>`): CreateBucket (PUT /b), HeadBucket, PutObject,
 * GetObject, HeadObject, DeleteObject (204 also for a missing key, as S3 answers). Errors have
 * S3's XML shape: NoSuchBucket, NoSuchKey (404), and injected ones (`failNext`, e.g. SlowDown 503).
 * A body sent with `Content-Encoding: aws-chunked` (streams of unknown length) is de-chunked.
 *
 * No maintained S3 emulator on the npm registry runs in-process on Node 20 without native or
 * network dependencies (s3rver's last release is from 2021); this subset is all the worker and
 * the CLI need.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenOnLoopback, readBoundedBody } from './loopback.js';

/** The largest request body: a 40 MiB payload with room to spare. */
const MAX_REQUEST_BYTES = 64 * 1_048_576;

export type S3Operation = 'CreateBucket' | 'HeadBucket' | 'PutObject' | 'GetObject' | 'HeadObject' | 'DeleteObject';

export interface S3Request {
  readonly operation: S3Operation | 'Unknown';
  readonly bucket: string;
  readonly key: string;
  readonly failedWith?: string | undefined;
}

export interface S3InjectedFailure {
  /** S3's error code, e.g. `SlowDown`, `InternalError`, `AccessDenied`. */
  readonly code: string;
  /** @default 503 for SlowDown, 500 for InternalError, else 400 */
  readonly status?: number;
  /** @default 1 */
  readonly times?: number;
}

export interface S3EndpointOptions {
  /** Buckets to create at start. @default [] */
  readonly buckets?: readonly string[];
  /** @default 0 (ephemeral) */
  readonly port?: number;
}

export interface S3Endpoint {
  /** `http://127.0.0.1:<port>`: the `endpoint` for the SDK client (with `forcePathStyle: true`). */
  readonly url: string;
  readonly port: number;
  /** Every request received, in order (live array). */
  readonly requests: S3Request[];
  createBucket(bucket: string): void;
  /** The keys in a bucket, sorted. */
  keys(bucket: string): string[];
  getObject(bucket: string, key: string): Buffer | undefined;
  putObject(bucket: string, key: string, body: string | Buffer): void;
  /** Fails the next request(s) of `operation` with an S3 error. */
  failNext(operation: S3Operation, failure: S3InjectedFailure): void;
  stop(): Promise<void>;
}

class S3Error extends Error {
  public constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    readonly resource = '',
  ) {
    super(message);
  }
}

export async function startS3Endpoint(options: S3EndpointOptions = {}): Promise<S3Endpoint> {
  const buckets = new Map<string, Map<string, { body: Buffer; etag: string; contentType: string; modified: Date }>>();
  const requests: S3Request[] = [];
  const failures = new Map<S3Operation, { failure: S3InjectedFailure; left: number }>();
  for (const bucket of options.buckets ?? []) buckets.set(bucket, new Map());

  const bucketOf = (name: string) => {
    const found = buckets.get(name);
    if (!found) throw new S3Error('NoSuchBucket', 'The specified bucket does not exist', 404, `/${name}`);
    return found;
  };

  const handle = (req: IncomingMessage, res: ServerResponse, body: Buffer): void => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const [bucketPart = '', ...keyParts] = url.pathname.slice(1).split('/');
    const bucket = decodeURIComponent(bucketPart);
    const key = keyParts.map(decodeURIComponent).join('/');
    const operation = operationOf(req.method ?? 'GET', bucket, key, url);
    const pending = operation === 'Unknown' ? undefined : failures.get(operation);
    if (pending && operation !== 'Unknown') {
      if (--pending.left <= 0) failures.delete(operation);
      const { code } = pending.failure;
      requests.push({ operation, bucket, key, failedWith: code });
      return sendError(res, req, new S3Error(code, `Injected ${code}`, pending.failure.status ?? (code === 'SlowDown' ? 503 : code === 'InternalError' ? 500 : 400)));
    }
    requests.push({ operation, bucket, key });
    try {
      switch (operation) {
        case 'CreateBucket':
          if (!buckets.has(bucket)) buckets.set(bucket, new Map());
          res.writeHead(200, { Location: `/${bucket}` }).end();
          return;
        case 'HeadBucket':
          bucketOf(bucket);
          res.writeHead(200).end();
          return;
        case 'PutObject': {
          const content = req.headers['content-encoding']?.includes('aws-chunked') ? dechunk(body) : body;
          const etag = `"${createHash('md5').update(content).digest('hex')}"`;
          bucketOf(bucket).set(key, { body: content, etag, contentType: String(req.headers['content-type'] ?? 'application/octet-stream'), modified: new Date() });
          res.writeHead(200, { ETag: etag }).end();
          return;
        }
        case 'GetObject':
        case 'HeadObject': {
          const object = bucketOf(bucket).get(key);
          if (!object) throw new S3Error(operation === 'HeadObject' ? 'NotFound' : 'NoSuchKey', 'The specified key does not exist.', 404, `/${bucket}/${key}`);
          res.writeHead(200, { 'Content-Length': object.body.length, 'Content-Type': object.contentType, ETag: object.etag, 'Last-Modified': object.modified.toUTCString() });
          res.end(operation === 'GetObject' ? object.body : undefined);
          return;
        }
        case 'DeleteObject':
          bucketOf(bucket).delete(key);
          res.writeHead(204).end();
          return;
        default:
          throw new S3Error('NotImplemented', `${req.method} ${url.pathname}${url.search} is not implemented by the local S3 stand-in`, 501);
      }
    } catch (error) {
      sendError(res, req, error instanceof S3Error ? error : new S3Error('InternalError', String(error), 500));
    }
  };

  const server = createServer((req, res) => {
    readBoundedBody(req, MAX_REQUEST_BYTES).then(
      (body) => (body === undefined ? sendError(res, req, new S3Error('EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size', 400)) : handle(req, res, body)),
      () => res.destroy(),
    );
  });
  const address = await listenOnLoopback(server, options.port ?? 0);
  let stopping: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${address.port}`,
    port: address.port,
    requests,
    createBucket(bucket) {
      if (!buckets.has(bucket)) buckets.set(bucket, new Map());
    },
    keys(bucket) {
      return [...(buckets.get(bucket)?.keys() ?? [])].sort();
    },
    getObject(bucket, key) {
      return buckets.get(bucket)?.get(key)?.body;
    },
    putObject(bucket, key, body) {
      const content = Buffer.from(body);
      bucketOf(bucket).set(key, { body: content, etag: `"${createHash('md5').update(content).digest('hex')}"`, contentType: 'application/json', modified: new Date() });
    },
    failNext(operation, failure) {
      failures.set(operation, { failure, left: failure.times ?? 1 });
    },
    stop() {
      stopping ??= new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
      return stopping;
    },
  };
}

function operationOf(method: string, bucket: string, key: string, url: URL): S3Operation | 'Unknown' {
  // Sub-resources (?uploads, ?tagging, ?list-type, ...) are not implemented.
  const sub = [...url.searchParams.keys()].filter((k) => k !== 'x-id');
  if (!bucket || sub.length) return 'Unknown';
  if (!key) return method === 'PUT' ? 'CreateBucket' : method === 'HEAD' ? 'HeadBucket' : 'Unknown';
  switch (method) {
    case 'PUT':
      return 'PutObject';
    case 'GET':
      return 'GetObject';
    case 'HEAD':
      return 'HeadObject';
    case 'DELETE':
      return 'DeleteObject';
    default:
      return 'Unknown';
  }
}

/** `aws-chunked`: `<hex size>[;chunk-signature=...]\r\n<data>\r\n` ... `0\r\n` then trailers. */
function dechunk(body: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  while (at < body.length) {
    const lineEnd = body.indexOf('\r\n', at);
    if (lineEnd < 0) break;
    const size = parseInt(body.subarray(at, lineEnd).toString('latin1').split(';')[0] ?? '', 16);
    if (!Number.isFinite(size) || size === 0) break;
    parts.push(body.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

function sendError(res: ServerResponse, req: IncomingMessage, error: S3Error): void {
  const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${escapeXml(error.code)}</Code><Message>${escapeXml(error.message)}</Message><Resource>${escapeXml(error.resource)}</Resource><RequestId>${randomUUID()}</RequestId></Error>`;
  // HEAD answers carry no body: the SDK reads the status (404 → NotFound).
  res.writeHead(error.status, { 'Content-Type': 'application/xml' }).end(req.method === 'HEAD' ? undefined : xml);
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}
