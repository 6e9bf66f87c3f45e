/**
 * The gateway under `npm start`: `mailrelay gateway` on a loopback port, against the local
 * stand-ins, with the committed test certificate (local/certs; its CA is local/certs/ca.pem), and
 * bodies over 256 KiB offloaded to the S3 stand-in's payload bucket, which the worker reads.
 * The first `submitter#…` item of local/config.json is the demo submitter the banner and
 * `.local-state/endpoints.json` name.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { SUBMITTER_SCOPE_PREFIX, type SubmitterItem } from '../lambda/core/config/submitter.js';
import { resolveKeysource } from '../lambda/core/keysources.js';
import { startAwsGateway } from '../cli/gateway/adapters/awsGateway.js';
import type { GatewayEvent, GatewayEventSink } from '../cli/gateway/ports.js';
import { localAwsClientConfig } from './awsClientConfig.js';
import { testCerts } from './certs.js';

/** What endpoints.json says about the gateway (docs/design.md §3.1). */
export interface LocalGatewayEndpoint {
  readonly host: string;
  readonly port: number;
  /** The demo submitter and its password (a local demo secret, from local/secrets.json). */
  readonly user: string;
  readonly password: string;
  /** A sender the demo submitter may use. */
  readonly from: string;
}

export interface LocalGateway {
  readonly endpoint: LocalGatewayEndpoint;
  stop(): Promise<void>;
}

export interface LocalGatewayOptions {
  readonly sqs: SQSClient;
  readonly dynamo: DynamoDBDocumentClient;
  readonly secretsUrl: string;
  readonly queueUrl: string;
  readonly configTable: string;
  readonly secretPrefix: string;
  /** The S3 stand-in and its payload bucket: large submissions go there, as the worker expects. */
  readonly s3Url: string;
  readonly payloadBucket: string;
  readonly demo: SubmitterItem;
  /** @default 0 (ephemeral) */
  readonly port?: number;
  /** One line per event, or nothing. */
  readonly print?: ((line: string) => void) | undefined;
}

export async function startLocalGateway(options: LocalGatewayOptions): Promise<LocalGateway> {
  const secretsManager = new SecretsManagerClient(localAwsClientConfig(options.secretsUrl, 1));
  const ssm = new SSMClient(localAwsClientConfig(options.secretsUrl, 1));
  // The S3 stand-in is addressed path-style: <endpoint>/<bucket>/<key>.
  const s3 = new S3Client({ ...localAwsClientConfig(options.s3Url, 1), forcePathStyle: true });
  const destroy = (): void => {
    secretsManager.destroy();
    ssm.destroy();
    s3.destroy();
  };
  const print = options.print;
  const events: GatewayEventSink = { emit: (event) => (print && event.event !== 'connected' ? print(formatGatewayEvent(event)) : undefined) };
  try {
    const gateway = await startAwsGateway({
      clients: { sqs: options.sqs, dynamo: options.dynamo, secretsManager, ssm, s3 },
      queueUrl: options.queueUrl,
      payloadBucket: options.payloadBucket,
      configTable: options.configTable,
      secretPrefix: options.secretPrefix,
      tlsCert: { value: testCerts.server.cert.toString('utf8') },
      tlsKey: { value: testCerts.server.key.toString('utf8') },
      host: '127.0.0.1',
      port: options.port ?? 0,
      serverName: 'localhost',
      // npm start: no config cache, so `mailrelay --local config put` takes effect at once.
      cacheTtlMs: 0,
      events,
    });
    const { secret } = await resolveKeysource(options.demo.password, gateway.secretSource);
    return {
      endpoint: {
        host: gateway.host,
        port: gateway.port,
        user: options.demo.scope.slice(SUBMITTER_SCOPE_PREFIX.length),
        password: secret,
        from: `app@${options.demo.fromDomains[0]!}`,
      },
      async stop() {
        await gateway.stop();
        destroy();
      },
    };
  } catch (error) {
    destroy();
    throw error;
  }
}

/** `[gateway] 250 message-queued authn=demo-app binding=acme.example ...`: one short line per event. */
export function formatGatewayEvent(event: GatewayEvent): string {
  const { event: name, code, sessionId: _session, ...rest } = event;
  const fields = Object.entries(rest)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
  return `[gateway] ${code ?? ''} ${name} ${fields.join(' ')}`.replace(/ +/g, ' ').trimEnd();
}
