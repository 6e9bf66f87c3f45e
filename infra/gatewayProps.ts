import { Token } from 'aws-cdk-lib';
import { parseKeysourceArgument } from '../cli/gateway/keysourceArgument.js';
import { DEFAULT_HEALTH_PORT, DEFAULT_IMPLICIT_TLS_PORT, DEFAULT_SUBMISSION_PORT } from '../cli/gateway/constants.js';
import { CONTAINER_IMPLICIT_TLS_PORT, CONTAINER_SUBMISSION_PORT } from '../cli/gateway/names.js';
import { MailrelayPropsError } from './errors.js';

/**
 * The optional SMTP submission gateway of the stack (`gateway` prop; docs/gateway.md): ECS
 * Fargate behind a Network Load Balancer. Synth never builds the image: build and push it from
 * the repository's Dockerfile and give its reference here, so `cdk synth` needs no Docker.
 */
export interface GatewayStackProps {
  /**
   * Container image reference: `<account>.dkr.ecr.<region>.amazonaws.com/mailrelay:<tag>` (the
   * task's execution role gets pull rights on that repository) or any public image. linux/arm64.
   */
  readonly image: string;
  /**
   * Keysource of the TLS certificate chain (PEM), as `mailrelay gateway --tls-cert` takes it:
   * `secret:NAME[#FIELD]`, `parameter:NAME` or JSON. Must be under {@link secretPrefix}.
   */
  readonly tlsCert: string;
  /** Keysource of the certificate's private key, likewise. */
  readonly tlsKey: string;
  /**
   * The gateway reads keysources (submitter passwords, the certificate) under this prefix only,
   * and its role grants nothing else (so it cannot read the worker's relay credentials).
   * @default `${secretPrefix}gateway/` (the stack's secretPrefix)
   */
  readonly secretPrefix?: string;
  /** Submission port, STARTTLS.  @default 587 */
  readonly submissionPort?: number;
  /** Implicit TLS port, or false for none.  @default 465 */
  readonly implicitTlsPort?: number | false;
  /** Port of the HTTP health check (`GET /health`).  @default 8025 */
  readonly healthPort?: number;
  /** The name in the greeting and in `Received:`.  @default - the task's host name */
  readonly serverName?: string;
  /** Tasks at least (and at deploy).  @default 2 */
  readonly minCapacity?: number;
  /** Tasks at most.  @default 6 */
  readonly maxCapacity?: number;
  /** Autoscaling keeps the average open SMTP connections per task near this.  @default 100 */
  readonly connectionsPerTask?: number;
  /** Fargate CPU units: 256, 512, 1024, 2048 or 4096.  @default 512 */
  readonly cpu?: number;
  /** Fargate memory (MiB).  @default 1024 */
  readonly memoryLimitMiB?: number;
  /** IPv4 networks allowed to connect.  @default ['0.0.0.0/0'] */
  readonly allowedCidrs?: string[];
  /** Alarm when this many logins fail within 5 minutes.  @default 20 */
  readonly authFailureThreshold?: number;
  /** Alarm when more than this percentage of replies are 4xx within 5 minutes.  @default 10 */
  readonly replies4xxPercentThreshold?: number;
}

/** {@link GatewayStackProps} with defaults applied and every value checked. */
export interface ResolvedGatewayProps {
  /** Container image reference (registry/repository:tag or @digest) built from the repository's Dockerfile. */
  readonly image: string;
  /** Keysources (as `mailrelay gateway --tls-cert/--tls-key` take them) of the certificate chain and key. */
  readonly tlsCert: string;
  readonly tlsKey: string;
  /** Keysources the gateway reads (submitter passwords, the TLS certificate) start with this; IAM grants nothing else. */
  readonly secretPrefix: string;
  readonly submissionPort: number;
  /** The implicit TLS port (465 style), or none. */
  readonly implicitTlsPort?: number;
  readonly healthPort: number;
  readonly serverName?: string;
  readonly minCapacity: number;
  readonly maxCapacity: number;
  /** Autoscaling keeps the average open connections per task near this. */
  readonly connectionsPerTask: number;
  readonly cpu: number;
  readonly memoryLimitMiB: number;
  /** Client networks allowed to connect (the NLB keeps client addresses, so the tasks' security group sees them). */
  readonly allowedCidrs: readonly string[];
  readonly authFailureThreshold: number;
  readonly replies4xxPercentThreshold: number;
}

export const GATEWAY_DEFAULTS = {
  minCapacity: 2,
  maxCapacity: 6,
  connectionsPerTask: 100,
  cpu: 512,
  memoryLimitMiB: 1024,
  allowedCidrs: ['0.0.0.0/0'],
  authFailureThreshold: 20,
  replies4xxPercentThreshold: 10,
} as const;

const FARGATE_CPU = [256, 512, 1024, 2048, 4096];
const IMAGE_PATTERN = /^[a-z0-9][a-z0-9.-]*(?::\d+)?\/[a-z0-9._/-]+(?::[A-Za-z0-9._-]{1,128}|@sha256:[a-f0-9]{64})$|^[a-z0-9._/-]+(?::[A-Za-z0-9._-]{1,128}|@sha256:[a-f0-9]{64})$/;
const CIDR_PATTERN = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;
const HOST_PATTERN = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;

/**
 * @throws MailrelayPropsError naming the prop (`gateway.tlsKey`) and what is wrong with it
 * @example
 * resolveGatewayProps({ image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/mailrelay:1.0', tlsCert: 'secret:mailrelay/gateway/tls#cert', tlsKey: 'secret:mailrelay/gateway/tls#key' }, 'mailrelay/');
 */
export function resolveGatewayProps(props: GatewayStackProps, stackSecretPrefix: string): ResolvedGatewayProps {
  const image = props.image;
  if (typeof image !== 'string' || (!Token.isUnresolved(image) && !IMAGE_PATTERN.test(image))) {
    throw new MailrelayPropsError('gateway.image', `${JSON.stringify(image)} is not an image reference with a tag or digest (registry/repository:tag)`);
  }
  const secretPrefix = props.secretPrefix ?? `${stackSecretPrefix}gateway/`;
  if (!/^[A-Za-z0-9/_+=.@-]{1,256}$/.test(secretPrefix) || secretPrefix.replace(/^\/+/, '') === '') {
    throw new MailrelayPropsError('gateway.secretPrefix', `"${secretPrefix}" must be 1–256 of A-Z a-z 0-9 / _ + = . @ - with a character besides "/"`);
  }
  const tlsCert = checkKeysource('gateway.tlsCert', props.tlsCert, secretPrefix);
  const tlsKey = checkKeysource('gateway.tlsKey', props.tlsKey, secretPrefix);

  const submissionPort = checkInteger('gateway.submissionPort', props.submissionPort ?? DEFAULT_SUBMISSION_PORT, 1, 65535);
  const implicitTlsPort = props.implicitTlsPort === false ? undefined : checkInteger('gateway.implicitTlsPort', props.implicitTlsPort ?? DEFAULT_IMPLICIT_TLS_PORT, 1, 65535);
  const healthPort = checkInteger('gateway.healthPort', props.healthPort ?? DEFAULT_HEALTH_PORT, 1, 65535);
  if (submissionPort === implicitTlsPort) throw new MailrelayPropsError('gateway.implicitTlsPort', `must differ from submissionPort (${submissionPort})`);
  if (healthPort === CONTAINER_SUBMISSION_PORT || healthPort === CONTAINER_IMPLICIT_TLS_PORT) {
    throw new MailrelayPropsError('gateway.healthPort', `${healthPort} is taken inside the container (SMTP listens on ${CONTAINER_SUBMISSION_PORT} and ${CONTAINER_IMPLICIT_TLS_PORT})`);
  }

  const minCapacity = checkInteger('gateway.minCapacity', props.minCapacity ?? GATEWAY_DEFAULTS.minCapacity, 1, 100);
  const maxCapacity = checkInteger('gateway.maxCapacity', props.maxCapacity ?? Math.max(minCapacity, GATEWAY_DEFAULTS.maxCapacity), 1, 100);
  if (maxCapacity < minCapacity) throw new MailrelayPropsError('gateway.maxCapacity', `${maxCapacity} is below minCapacity (${minCapacity})`);
  const connectionsPerTask = checkInteger('gateway.connectionsPerTask', props.connectionsPerTask ?? GATEWAY_DEFAULTS.connectionsPerTask, 1, 10_000);
  const cpu = props.cpu ?? GATEWAY_DEFAULTS.cpu;
  if (!FARGATE_CPU.includes(cpu)) throw new MailrelayPropsError('gateway.cpu', `${cpu} is not a Fargate CPU size (${FARGATE_CPU.join(', ')})`);
  const memoryLimitMiB = checkInteger('gateway.memoryLimitMiB', props.memoryLimitMiB ?? GATEWAY_DEFAULTS.memoryLimitMiB, 512, 30_720);
  const allowedCidrs = props.allowedCidrs ?? [...GATEWAY_DEFAULTS.allowedCidrs];
  if (allowedCidrs.length === 0) throw new MailrelayPropsError('gateway.allowedCidrs', 'must name at least one network');
  allowedCidrs.forEach((cidr, i) => {
    const match = CIDR_PATTERN.exec(cidr);
    if (!match || match.slice(1, 5).some((octet) => Number(octet) > 255) || Number(match[5]) > 32) {
      throw new MailrelayPropsError(`gateway.allowedCidrs[${i}]`, `"${cidr}" is not an IPv4 CIDR (a.b.c.d/n)`);
    }
  });
  const serverName = props.serverName;
  if (serverName !== undefined && !HOST_PATTERN.test(serverName)) throw new MailrelayPropsError('gateway.serverName', `"${serverName}" is not a fully qualified host name`);
  const authFailureThreshold = checkInteger('gateway.authFailureThreshold', props.authFailureThreshold ?? GATEWAY_DEFAULTS.authFailureThreshold, 1, 1_000_000);
  const replies4xxPercentThreshold = props.replies4xxPercentThreshold ?? GATEWAY_DEFAULTS.replies4xxPercentThreshold;
  if (!(replies4xxPercentThreshold > 0 && replies4xxPercentThreshold <= 100)) {
    throw new MailrelayPropsError('gateway.replies4xxPercentThreshold', `${replies4xxPercentThreshold} must be a percentage above 0, at most 100`);
  }
  return {
    image,
    tlsCert,
    tlsKey,
    secretPrefix,
    submissionPort,
    ...(implicitTlsPort === undefined ? {} : { implicitTlsPort }),
    healthPort,
    ...(serverName === undefined ? {} : { serverName }),
    minCapacity,
    maxCapacity,
    connectionsPerTask,
    cpu,
    memoryLimitMiB,
    allowedCidrs,
    authFailureThreshold,
    replies4xxPercentThreshold,
  };
}

/** A keysource the gateway can read: valid, and (for secrets and parameters) under its prefix, which is all IAM grants. */
function checkKeysource(prop: string, text: string, prefix: string): string {
  let keysource;
  try {
    keysource = parseKeysourceArgument(String(text));
  } catch (error) {
    throw new MailrelayPropsError(prop, `${JSON.stringify(text)} ${(error as Error).message}`);
  }
  if ('value' in keysource) throw new MailrelayPropsError(prop, 'must not be an inline value: a private key does not belong in a template');
  const name = 'secret' in keysource ? keysource.secret : 'parameter' in keysource ? keysource.parameter.replace(/^\//, '') : undefined;
  if (name !== undefined && !name.startsWith(prefix.replace(/^\//, ''))) {
    throw new MailrelayPropsError(prop, `${JSON.stringify(text)} is outside the gateway's secret prefix "${prefix}": the gateway may not read it`);
  }
  return text;
}

function checkInteger(prop: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) throw new MailrelayPropsError(prop, `${value} is out of range: it must be an integer from ${min} to ${max}`);
  return value;
}
