import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { listenOnLoopback, readBoundedBody, serverStopper } from './loopback.js';

/**
 * A local stand-in for AWS Secrets Manager and SSM Parameter Store: a node:http server on
 * 127.0.0.1 speaking the AWS JSON 1.1 protocol (`X-Amz-Target` + JSON body) well enough for the
 * real `@aws-sdk/client-secrets-manager` and `@aws-sdk/client-ssm` clients, pointed at it with
 * `endpoint: url` or the env variables `AWS_ENDPOINT_URL_SECRETS_MANAGER` / `AWS_ENDPOINT_URL_SSM`.
 * Request signatures are not checked (any static dummy credentials do).
 *
 * Operations:
 * - Secrets Manager: GetSecretValue (VersionId / VersionStage AWSCURRENT|AWSPREVIOUS), PutSecretValue,
 *   CreateSecret, DescribeSecret, ListSecrets (the `name` prefix filter only; no paging).
 * - SSM: GetParameter (WithDecryption), GetParameters, PutParameter (Overwrite).
 *
 * Errors have the AWS shape: HTTP 400 (500 for internal errors) with `{ "__type", "message" }`.
 * A SecureString read without `WithDecryption` returns an opaque base64 blob, as AWS returns the
 * KMS ciphertext, never the value.
 */

/** `X-Amz-Target` values the endpoint implements. */
export type SecretsTarget =
  | 'secretsmanager.GetSecretValue'
  | 'secretsmanager.PutSecretValue'
  | 'secretsmanager.CreateSecret'
  | 'secretsmanager.DescribeSecret'
  | 'secretsmanager.ListSecrets'
  | 'AmazonSSM.GetParameter'
  | 'AmazonSSM.GetParameters'
  | 'AmazonSSM.PutParameter';

/** A failure to inject with `failNext`. */
export interface InjectedFailure {
  /** The AWS error code (`__type`), e.g. `ThrottlingException`, `AccessDeniedException`, `InternalServiceError`. */
  readonly type: 'ThrottlingException' | 'AccessDeniedException' | 'InternalServiceError' | (string & {});
  /** HTTP status.  @default 500 for `InternalServiceError` / `InternalServerError`, else 400 */
  readonly status?: number;
  /** Error message.  @default `Injected <type>` */
  readonly message?: string;
  /** How many consecutive matching requests fail.  @default 1 */
  readonly times?: number;
}

/** One request the endpoint received. */
export interface SecretsRequest {
  /** The `X-Amz-Target` header as sent (e.g. `secretsmanager.GetSecretValue`). */
  readonly target: string;
  /** `SecretId` / `Name` from the body (for GetParameters: the names joined by `,`), if any. */
  readonly name?: string;
  /** The injected failure type, when this request was failed on purpose. */
  readonly failedWith?: string;
  readonly at: Date;
}

/** Options of {@link startSecretsEndpoint}. */
export interface SecretsEndpointOptions {
  /** Secrets Manager secrets by name (plain strings; JSON secrets are strings too).  @default {} */
  secrets?: Record<string, string>;
  /** SSM parameters by name, stored as `SecureString`.  @default {} */
  parameters?: Record<string, string>;
  /** Region used in ARNs.  @default 'us-east-1' */
  region?: string;
  /** Account id used in ARNs.  @default '000000000000' */
  accountId?: string;
  /** Port to bind on 127.0.0.1.  @default 0 (ephemeral) */
  port?: number;
}

/** A running endpoint. */
export interface SecretsEndpoint {
  /** `http://127.0.0.1:<port>`: the `endpoint` for both SDK clients. */
  readonly url: string;
  readonly port: number;
  /** Every request received, in order (live array). */
  readonly requests: SecretsRequest[];
  /** Creates a secret or stores a new AWSCURRENT version of it; returns the version id. */
  setSecret(name: string, value: string | Uint8Array): string;
  /** Deletes a secret at once (no recovery window). */
  deleteSecret(name: string): void;
  /** Creates or overwrites an SSM parameter.  @param type  @default 'SecureString' */
  setParameter(name: string, value: string, type?: 'String' | 'StringList' | 'SecureString'): void;
  /** Deletes an SSM parameter. */
  deleteParameter(name: string): void;
  /** Number of requests for `target` (and for that `name`, if given), failed ones included. */
  countRequests(target: SecretsTarget | (string & {}), name?: string): number;
  /** Fails the next request(s) for `target` (`'*'`: any target) with an AWS error. */
  failNext(target: SecretsTarget | '*' | (string & {}), failure: InjectedFailure): void;
  /** Forgets the request log and pending failures (stored values stay). */
  clearRequests(): void;
  /** Closes the server and every keep-alive connection. */
  stop(): Promise<void>;
}

interface SecretVersion {
  id: string;
  string?: string;
  binary?: string; // base64
  stages: string[];
  createdAt: Date;
}

interface Secret {
  name: string;
  arn: string;
  description?: string;
  createdAt: Date;
  changedAt: Date;
  versions: SecretVersion[];
}

interface Parameter {
  name: string;
  value: string;
  type: 'String' | 'StringList' | 'SecureString';
  version: number;
  modifiedAt: Date;
}

type Body = Record<string, unknown>;

class AwsError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
    this.name = 'AwsError';
  }
}

const MAX_BODY_BYTES = 1024 * 1024;
const CONTENT_TYPE = 'application/x-amz-json-1.1';
const epochSeconds = (date: Date): number => date.getTime() / 1000;

const str = (body: Body, key: string): string | undefined => {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new AwsError('ValidationException', `${key} must be a string`);
  return value;
};
const required = (body: Body, key: string): string => {
  const value = str(body, key);
  if (!value) throw new AwsError('ValidationException', `1 validation error detected: Value at '${key}' failed to satisfy constraint: Member must not be null`);
  return value;
};

/**
 * Starts the local Secrets Manager + SSM endpoint on 127.0.0.1 (ephemeral port by default).
 *
 * @example
 * ```ts
 * const endpoint = await startSecretsEndpoint({ secrets: { 'mailrelay/acme': '{"password":"pw"}' } });
 * const client = new SecretsManagerClient({ endpoint: endpoint.url, region: 'us-east-1',
 *   credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
 * await client.send(new GetSecretValueCommand({ SecretId: 'mailrelay/acme' }));
 * endpoint.countRequests('secretsmanager.GetSecretValue', 'mailrelay/acme'); // 1
 * await endpoint.stop();
 * ```
 */
export async function startSecretsEndpoint(options: SecretsEndpointOptions = {}): Promise<SecretsEndpoint> {
  const region = options.region ?? 'us-east-1';
  const accountId = options.accountId ?? '000000000000';
  const secrets = new Map<string, Secret>();
  const parameters = new Map<string, Parameter>();
  const requests: SecretsRequest[] = [];
  let failures: Array<{ target: string; failure: InjectedFailure; remaining: number }> = [];

  // ---- Secrets Manager model ------------------------------------------------------------------

  const findSecret = (id: string): Secret => {
    const direct = secrets.get(id);
    if (direct) return direct;
    for (const secret of secrets.values()) {
      // full ARN, or a partial ARN without the 6-character random suffix
      if (secret.arn === id || secret.arn.slice(0, -7) === id) return secret;
    }
    throw new AwsError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
  };

  const addVersion = (secret: Secret, value: { string?: string; binary?: string }, versionId?: string): SecretVersion => {
    const existing = versionId ? secret.versions.find((v) => v.id === versionId) : undefined;
    if (existing) {
      if (existing.string !== value.string || existing.binary !== value.binary) {
        throw new AwsError('ResourceExistsException', `You can't modify an existing version, you can only create a new version.`);
      }
      return existing;
    }
    for (const version of secret.versions) {
      if (version.stages.includes('AWSPREVIOUS')) version.stages = version.stages.filter((s) => s !== 'AWSPREVIOUS');
      if (version.stages.includes('AWSCURRENT')) version.stages = [...version.stages.filter((s) => s !== 'AWSCURRENT'), 'AWSPREVIOUS'];
    }
    const now = new Date();
    const version: SecretVersion = { id: versionId ?? randomUUID(), ...value, stages: ['AWSCURRENT'], createdAt: now };
    // versions without a stage are deprecated and dropped, as AWS eventually does
    secret.versions = [...secret.versions.filter((v) => v.stages.length > 0), version];
    secret.changedAt = now;
    return version;
  };

  const createSecret = (name: string, description?: string): Secret => {
    if (secrets.has(name)) throw new AwsError('ResourceExistsException', `The operation failed because the secret ${name} already exists.`);
    const suffix = randomBytes(6).toString('base64url').replace(/[-_]/g, 'x').slice(0, 6);
    const now = new Date();
    const secret: Secret = { name, arn: `arn:aws:secretsmanager:${region}:${accountId}:secret:${name}-${suffix}`, description, createdAt: now, changedAt: now, versions: [] };
    secrets.set(name, secret);
    return secret;
  };

  const secretValue = (body: Body): { string?: string; binary?: string } | undefined => {
    const string = str(body, 'SecretString');
    const binary = str(body, 'SecretBinary');
    if (string !== undefined && binary !== undefined) {
      throw new AwsError('InvalidParameterException', 'You must provide either SecretString or SecretBinary, not both.');
    }
    if (string !== undefined) return { string };
    if (binary !== undefined) return { binary };
    return undefined;
  };

  const versionsToStages = (secret: Secret): Record<string, string[]> =>
    Object.fromEntries(secret.versions.map((v) => [v.id, [...v.stages]]));

  // ---- SSM model ------------------------------------------------------------------------------

  const parameterArn = (name: string): string => `arn:aws:ssm:${region}:${accountId}:parameter/${name.replace(/^\//, '')}`;
  const findParameter = (rawName: string): Parameter | undefined => {
    const arn = /^arn:aws[\w-]*:ssm:[^:]*:[^:]*:parameter\/(.+)$/.exec(rawName);
    const name = arn?.[1] ?? rawName;
    return parameters.get(name) ?? parameters.get(`/${name}`);
  };
  const putParameter = (name: string, value: string, type: Parameter['type'], overwrite: boolean): Parameter => {
    const existing = parameters.get(name);
    if (existing && !overwrite) {
      throw new AwsError('ParameterAlreadyExists', 'The parameter already exists. To overwrite this value, set the overwrite option in the request to true.');
    }
    const parameter: Parameter = { name, value, type, version: (existing?.version ?? 0) + 1, modifiedAt: new Date() };
    parameters.set(name, parameter);
    return parameter;
  };
  const parameterView = (parameter: Parameter, decrypt: boolean): Body => ({
    Name: parameter.name,
    Type: parameter.type,
    // AWS hands out the KMS ciphertext of a SecureString unless asked to decrypt it
    Value:
      parameter.type === 'SecureString' && !decrypt
        ? Buffer.from(`ciphertext:${createHash('sha256').update(parameter.value).digest('hex')}`).toString('base64')
        : parameter.value,
    Version: parameter.version,
    LastModifiedDate: epochSeconds(parameter.modifiedAt),
    ARN: parameterArn(parameter.name),
    DataType: 'text',
  });

  // ---- operations -----------------------------------------------------------------------------

  const operations: Record<SecretsTarget, (body: Body) => Body> = {
    'secretsmanager.GetSecretValue': (body) => {
      const secret = findSecret(required(body, 'SecretId'));
      const versionId = str(body, 'VersionId');
      const stage = str(body, 'VersionStage') ?? (versionId ? undefined : 'AWSCURRENT');
      const version = secret.versions.find((v) => (!versionId || v.id === versionId) && (!stage || v.stages.includes(stage)));
      if (!version) {
        throw new AwsError('ResourceNotFoundException', "Secrets Manager can't find the specified secret value for staging label: " + (stage ?? 'AWSCURRENT'));
      }
      return {
        ARN: secret.arn,
        Name: secret.name,
        VersionId: version.id,
        ...(version.string !== undefined ? { SecretString: version.string } : { SecretBinary: version.binary }),
        VersionStages: [...version.stages],
        CreatedDate: epochSeconds(version.createdAt),
      };
    },
    'secretsmanager.PutSecretValue': (body) => {
      const secret = findSecret(required(body, 'SecretId'));
      const value = secretValue(body);
      if (!value) throw new AwsError('InvalidRequestException', 'You must provide either SecretString or SecretBinary.');
      const version = addVersion(secret, value, str(body, 'ClientRequestToken'));
      return { ARN: secret.arn, Name: secret.name, VersionId: version.id, VersionStages: [...version.stages] };
    },
    'secretsmanager.CreateSecret': (body) => {
      const secret = createSecret(required(body, 'Name'), str(body, 'Description'));
      const value = secretValue(body);
      const version = value ? addVersion(secret, value, str(body, 'ClientRequestToken')) : undefined;
      return { ARN: secret.arn, Name: secret.name, ...(version ? { VersionId: version.id } : {}) };
    },
    'secretsmanager.DescribeSecret': (body) => {
      const secret = findSecret(required(body, 'SecretId'));
      return {
        ARN: secret.arn,
        Name: secret.name,
        ...(secret.description !== undefined ? { Description: secret.description } : {}),
        CreatedDate: epochSeconds(secret.createdAt),
        LastChangedDate: epochSeconds(secret.changedAt),
        VersionIdsToStages: versionsToStages(secret),
      };
    },
    'secretsmanager.ListSecrets': (body) => {
      const filters = Array.isArray(body.Filters) ? (body.Filters as Array<{ Key?: unknown; Values?: unknown }>) : [];
      const prefixes = filters.filter((f) => f.Key === 'name' && Array.isArray(f.Values)).flatMap((f) => f.Values as string[]);
      const list = [...secrets.values()]
        .filter((s) => prefixes.length === 0 || prefixes.some((p) => s.name.startsWith(p)))
        .map((s) => ({
          ARN: s.arn,
          Name: s.name,
          ...(s.description !== undefined ? { Description: s.description } : {}),
          CreatedDate: epochSeconds(s.createdAt),
          LastChangedDate: epochSeconds(s.changedAt),
          SecretVersionsToStages: versionsToStages(s),
        }));
      return { SecretList: list };
    },
    'AmazonSSM.GetParameter': (body) => {
      const name = required(body, 'Name');
      const parameter = findParameter(name);
      if (!parameter) throw new AwsError('ParameterNotFound', `Parameter ${name} not found.`);
      return { Parameter: parameterView(parameter, body.WithDecryption === true) };
    },
    'AmazonSSM.GetParameters': (body) => {
      const names = Array.isArray(body.Names) ? body.Names.filter((n): n is string => typeof n === 'string') : [];
      const found = names.map((n) => [n, findParameter(n)] as const);
      return {
        Parameters: found.flatMap(([, p]) => (p ? [parameterView(p, body.WithDecryption === true)] : [])),
        InvalidParameters: found.filter(([, p]) => !p).map(([n]) => n),
      };
    },
    'AmazonSSM.PutParameter': (body) => {
      const type = str(body, 'Type') ?? 'String';
      if (type !== 'String' && type !== 'StringList' && type !== 'SecureString') {
        throw new AwsError('UnsupportedParameterType', `Parameter type ${type} is not supported.`);
      }
      const parameter = putParameter(required(body, 'Name'), required(body, 'Value'), type, body.Overwrite === true);
      return { Version: parameter.version, Tier: 'Standard' };
    },
  };

  // ---- HTTP -----------------------------------------------------------------------------------

  const send = (res: ServerResponse, status: number, body: Body): void => {
    const payload = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': CONTENT_TYPE,
      'content-length': Buffer.byteLength(payload),
      'x-amzn-requestid': randomUUID(),
    });
    res.end(payload);
  };
  const sendError = (res: ServerResponse, err: AwsError): void => send(res, err.status, { __type: err.type, message: err.message });

  const takeFailure = (target: string): InjectedFailure | undefined => {
    const entry = failures.find((f) => f.target === target || f.target === '*');
    if (!entry) return undefined;
    entry.remaining -= 1;
    if (entry.remaining <= 0) failures = failures.filter((f) => f !== entry);
    return entry.failure;
  };

  const handle = (req: IncomingMessage, res: ServerResponse, raw: Buffer): void => {
    const target = String(req.headers['x-amz-target'] ?? '');
    let body: Body = {};
    let parseError: AwsError | undefined;
    try {
      const parsed: unknown = raw.length > 0 ? JSON.parse(raw.toString('utf8')) : {};
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) body = parsed as Body;
      else parseError = new AwsError('SerializationException', 'Request body must be a JSON object');
    } catch {
      parseError = new AwsError('SerializationException', 'Request body is not valid JSON');
    }
    const nameOf = (): string | undefined => {
      for (const key of ['SecretId', 'Name']) {
        const value = body[key];
        if (typeof value === 'string') return value;
      }
      return Array.isArray(body.Names) ? body.Names.join(',') : undefined;
    };
    const failure = takeFailure(target);
    requests.push({ target, name: nameOf(), failedWith: failure?.type, at: new Date() });

    if (failure) {
      const status = failure.status ?? (/^Internal(Service|Server)Error$/.test(failure.type) ? 500 : 400);
      return sendError(res, new AwsError(failure.type, failure.message ?? `Injected ${failure.type}`, status));
    }
    if (req.method !== 'POST') return sendError(res, new AwsError('UnknownOperationException', `Method ${String(req.method)} not allowed`));
    if (parseError) return sendError(res, parseError);
    const operation = (operations as Record<string, ((body: Body) => Body) | undefined>)[target];
    if (!operation) return sendError(res, new AwsError('UnknownOperationException', `Unknown operation ${target || '(no X-Amz-Target)'}`));
    try {
      send(res, 200, operation(body));
    } catch (err) {
      if (err instanceof AwsError) return sendError(res, err);
      sendError(res, new AwsError('InternalServiceError', err instanceof Error ? err.message : String(err), 500));
    }
  };

  const server = createServer((req, res) => {
    readBoundedBody(req, MAX_BODY_BYTES).then(
      (body) => (body === undefined ? sendError(res, new AwsError('ValidationException', 'Request body too large')) : handle(req, res, body)),
      () => res.destroy(),
    );
  });

  for (const [name, value] of Object.entries(options.secrets ?? {})) addVersion(createSecret(name), { string: value });
  for (const [name, value] of Object.entries(options.parameters ?? {})) putParameter(name, value, 'SecureString', true);

  const address = await listenOnLoopback(server, options.port ?? 0);

  return {
    url: `http://127.0.0.1:${address.port}`,
    port: address.port,
    requests,
    setSecret(name, value) {
      const secret = secrets.get(name) ?? createSecret(name);
      const stored = typeof value === 'string' ? { string: value } : { binary: Buffer.from(value).toString('base64') };
      return addVersion(secret, stored).id;
    },
    deleteSecret(name) {
      secrets.delete(name);
    },
    setParameter(name, value, type = 'SecureString') {
      putParameter(name, value, type, true);
    },
    deleteParameter(name) {
      parameters.delete(name);
    },
    countRequests(target, name) {
      return requests.filter((r) => r.target === target && (name === undefined || r.name === name)).length;
    },
    failNext(target, failure) {
      failures.push({ target, failure, remaining: failure.times ?? 1 });
    },
    clearRequests() {
      requests.length = 0;
      failures = [];
    },
    stop: serverStopper(server),
  };
}
