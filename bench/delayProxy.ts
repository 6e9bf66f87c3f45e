/**
 * A TCP proxy on loopback that adds a network round trip: every chunk is forwarded half the
 * round-trip time late in each direction (in order), and a new connection reaches the upstream
 * half a round trip late (the handshake). In front of the AWS emulators it makes each API call
 * cost what it costs in a region (DynamoDB answers in a few ms); in front of the SMTP relay each
 * command costs a round trip, as it does to a real relay.
 */
import { createServer, connect, type Socket } from 'node:net';

export interface DelayProxy {
  readonly port: number;
  readonly rttMs: number;
  stop(): Promise<void>;
}

/** Forward `from` → `to`, each chunk `delayMs` late; timers of equal delay fire in order. */
function forward(from: Socket, to: Socket, delayMs: number): void {
  from.on('data', (chunk: Buffer) => {
    setTimeout(() => {
      if (!to.destroyed) to.write(chunk);
    }, delayMs);
  });
  from.on('end', () => setTimeout(() => to.end(), delayMs));
}

/**
 * @example
 * const proxy = await startDelayProxy(relay.port, 20); // the relay, 20 ms away
 */
export function startDelayProxy(upstreamPort: number, rttMs: number): Promise<DelayProxy> {
  const half = rttMs / 2;
  const sockets = new Set<Socket>();
  const server = createServer({ noDelay: true }, (client) => {
    sockets.add(client);
    client.pause();
    const early: Buffer[] = [];
    client.on('data', (chunk: Buffer) => early.push(chunk));
    setTimeout(() => {
      const upstream = connect({ port: upstreamPort, host: '127.0.0.1', noDelay: true });
      sockets.add(upstream);
      const close = (): void => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      upstream.on('error', close);
      client.on('error', close);
      upstream.on('close', close);
      client.on('close', close);
      upstream.once('connect', () => {
        client.removeAllListeners('data');
        for (const chunk of early) upstream.write(chunk);
        forward(client, upstream, half);
        forward(upstream, client, half);
        client.resume();
      });
    }, half);
    client.resume();
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (!address || typeof address === 'string') return reject(new Error('delay proxy: no port'));
      resolve({
        port: address.port,
        rttMs,
        stop: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}
