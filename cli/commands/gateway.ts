/**
 * `mailrelay gateway`: the SMTP submission gateway (docs/design.md §3.1) against the queue and the
 * config table the other commands use (AWS, or the stand-ins of `npm start` with --local). Runs
 * until SIGINT / SIGTERM; logs one JSON line per event on stdout.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Keysource } from '../../lambda/core/config/schema.js';
import { integerOption } from '../args.js';
import type { CommandRun } from '../command.js';
import { str } from '../command.js';
import { CliError, UsageError } from '../errors.js';
import { startAwsGateway } from '../gateway/adapters/awsGateway.js';
import { DEFAULT_HEALTH_PORT, DEFAULT_SUBMISSION_PORT } from '../gateway/constants.js';
import { startConnectionMetric } from '../gateway/connectionMetric.js';
import { JsonLineEvents } from '../gateway/events.js';
import { startHealthEndpoint, type HealthEndpoint } from '../gateway/healthEndpoint.js';
import { parseKeysourceArgument } from '../gateway/keysourceArgument.js';
import { GATEWAY_ENV } from '../gateway/names.js';


/** The test certificate of `npm start` (beside the test CA its state file names): --local only. */
const localCert = (caFile: string, file: string): Keysource => ({ value: readFileSync(join(dirname(caFile), file), 'utf8') });

export const run: CommandRun = async ({ values }, ctx) => {
  const cmd = 'gateway';
  const env = ctx.env;
  const option = (flag: string, variable: string): string | undefined => str(values[flag]) ?? (env[variable]?.trim() || undefined);
  const port = integerOption(cmd, 'port', option('port', GATEWAY_ENV.port), DEFAULT_SUBMISSION_PORT, 0, 65535);
  const tlsPortText = option('tls-port', GATEWAY_ENV.tlsPort);
  const tlsPort = tlsPortText === undefined ? undefined : integerOption(cmd, 'tls-port', tlsPortText, 0, 0, 65535);
  const healthText = option('health-port', GATEWAY_ENV.healthPort);
  const healthPort = healthText === undefined ? undefined : integerOption(cmd, 'health-port', healthText, DEFAULT_HEALTH_PORT, 0, 65535);
  const host = option('host', GATEWAY_ENV.host) ?? '127.0.0.1';
  const serverName = option('name', GATEWAY_ENV.name);

  const target = ctx.target();
  const keysource = (flag: string, variable: string, localFile: string): Keysource => {
    const text = option(flag, variable);
    if (text === undefined) {
      if (target.state) return localCert(target.state.caFile, localFile);
      throw new UsageError(`no TLS ${flag === 'tls-cert' ? 'certificate' : 'key'}: pass --${flag} KEYSOURCE or set ${variable}`, cmd);
    }
    try {
      return parseKeysourceArgument(text);
    } catch (error) {
      throw new UsageError(`--${flag} ${(error as Error).message}`, cmd);
    }
  };
  const tlsCert = keysource('tls-cert', GATEWAY_ENV.tlsCert, 'server.pem');
  const tlsKey = keysource('tls-key', GATEWAY_ENV.tlsKey, 'server-key.pem');

  const payloadBucket = target.optionalPayloadBucket(str(values['payload-bucket']));

  const events = new JsonLineEvents((line) => ctx.io.out(line));
  let gateway;
  try {
    gateway = await startAwsGateway({
      clients: {
        sqs: await target.sqs(),
        dynamo: await target.dynamo(),
        secretsManager: await target.secretsManager(),
        ssm: await target.ssm(),
        ...(payloadBucket !== undefined && { s3: await target.s3() }),
      },
      queueUrl: target.queueUrl(),
      payloadBucket,
      configTable: target.configTable(),
      secretPrefix: target.secretPrefix,
      tlsCert,
      tlsKey,
      host,
      port,
      ...(tlsPort !== undefined && { implicitTlsPort: tlsPort }),
      ...(serverName !== undefined && { serverName }),
      events,
    });
  } catch (error) {
    target.close();
    throw new CliError(`cannot start the gateway: ${error instanceof Error ? error.message : String(error)}`, 1, { cause: error });
  }
  const namespace = env[GATEWAY_ENV.metricsNamespace]?.trim();
  const stopMetric = namespace ? startConnectionMetric(namespace, () => gateway.activeConnections(), (line) => ctx.io.out(line)) : undefined;
  let health: HealthEndpoint | undefined;
  if (healthPort !== undefined) health = await startHealthEndpoint({ host, port: healthPort });
  ctx.io.err(
    `mailrelay gateway: submission (STARTTLS) on ${gateway.host}:${gateway.port}` +
      (gateway.implicitTlsPort !== undefined ? `, implicit TLS on ${gateway.implicitTlsPort}` : '') +
      (health ? `, health on http://${host}:${health.port}/health` : '') +
      ` -> ${target.queueUrl()}` +
      (payloadBucket !== undefined ? `, bodies over 256 KiB via s3://${payloadBucket}` : ', no payload bucket (SIZE 983040)') +
      ` (${target.label}). Ctrl-C to stop.`,
  );
  await new Promise<void>((resolve) => {
    if (ctx.signal.aborted) resolve();
    ctx.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  ctx.io.err('mailrelay gateway: stopping (finishing the transactions in flight)');
  health?.drain();
  stopMetric?.();
  await gateway.stop();
  await health?.stop();
  target.close();
  ctx.io.err('mailrelay gateway: stopped');
  return 0;
};
