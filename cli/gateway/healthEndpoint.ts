/**
 * The load balancer's health check: `GET /health` answers 200 while the SMTP listeners accept
 * connections and 503 once the gateway is stopping (so the target drains before it goes). A
 * separate HTTP port keeps health checks out of the SMTP logs and the AUTH failure counts.
 */
import { createServer, type Server } from 'node:http';
import { HEALTH_PATH } from './names.js';

export interface HealthEndpoint {
  readonly port: number;
  /** Answer 503 from now on. */
  drain(): void;
  stop(): Promise<void>;
}

/**
 * @example
 * const health = await startHealthEndpoint({ host: '0.0.0.0', port: 8025 });
 */
export async function startHealthEndpoint(options: { readonly host: string; readonly port: number }): Promise<HealthEndpoint> {
  let draining = false;
  const server: Server = createServer((request, response) => {
    const healthy = request.method === 'GET' && request.url === HEALTH_PATH && !draining;
    response.writeHead(request.url === HEALTH_PATH ? (healthy ? 200 : 503) : 404, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ status: request.url !== HEALTH_PATH ? 'not-found' : healthy ? 'ok' : 'draining' }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  return {
    port,
    drain() {
      draining = true;
    },
    stop() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
