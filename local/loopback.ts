/** Shared plumbing of the loopback stand-ins: listening on 127.0.0.1 and reading bounded bodies. */
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { AddressInfo, Server } from 'node:net';

/**
 * Listen on `host` (127.0.0.1 unless told otherwise) and an ephemeral port unless one is given;
 * resolves with the bound address, rejects with the listen error (port in use, ...).
 */
export async function listenOnLoopback(server: Server, port = 0, host = '127.0.0.1'): Promise<AddressInfo> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('stand-in: no TCP address after listen');
  return address;
}

/**
 * Read a request body of at most `maxBytes`; a larger body is drained, not kept, and yields
 * `undefined` so the caller can answer 413 (or its protocol's equivalent).
 */
export function readBoundedBody(req: IncomingMessage, maxBytes: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) chunks.push(chunk);
    });
    req.on('end', () => resolve(size > maxBytes ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/**
 * An idempotent stop for a stand-in's HTTP server: closes the listener and every open connection
 * at once; calling it again returns the same promise.
 */
export function serverStopper(server: HttpServer): () => Promise<void> {
  let stopping: Promise<void> | undefined;
  return () => {
    stopping ??= new Promise<void>((resolve, reject) => {
      server.close((err) => (err ? reject(err) : resolve()));
      server.closeAllConnections();
    });
    return stopping;
  };
}
