/**
 * The config item of docs/design.md §2, as a strict schema: unknown fields are errors with their path.
 * Items are validated when written (CLI) and when read (worker); a broken item only affects the
 * messages that use it.
 */
import * as z from 'zod/mini';
import { dkimKeyProblem } from '../dkim/key.js';
import { ConfigValidationError } from '../errors.js';
import { tokenUrlProblem } from '../oauth/tokenUrlPolicy.js';
import { ENV_KEYSOURCE_PATTERN, ENV_KEYSOURCE_PREFIX } from '../secretPrefix.js';
import { stripNulls, toFieldIssues, unsafeCharacter } from '../validation.js';

/** A header/log-safe, non-empty string (no CR, LF, NUL, other controls but TAB, DEL, U+0085/2028/2029). */
export const safeString = (max = 998) =>
  z.string().check(
    z.minLength(1, 'must not be empty'),
    z.maxLength(max, `must be at most ${max} characters`),
    z.superRefine((value, ctx) => {
      const bad = unsafeCharacter(value);
      if (bad) ctx.addIssue({ code: 'custom', message: `must not contain ${bad}` });
    }),
  );

/** A name of a binding or binding group: letters, digits, `.`, `_`, `-`, at most 128; case-insensitive. */
export const NAME_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;
export const bindingName = z.pipe(
  z.string().check(z.regex(NAME_PATTERN, 'must be 1-128 letters, digits, ".", "_" or "-"')),
  z.transform((value: string) => value.toLowerCase()),
);

/** Where a secret lives (KumoMTA's KeySource): never the secret itself, except `value` for local use. */
export const secretKeysource = z.strictObject({ secret: safeString(512), field: z.optional(safeString(256)) });
export const parameterKeysource = z.strictObject({ parameter: safeString(2048) });
export const envKeysource = z.strictObject({ env: z.string().check(z.regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name')) });
export const valueKeysource = z.strictObject({ value: z.string().check(z.minLength(1, 'must not be empty')) });

export const keysourceSchema = z
  .union([secretKeysource, parameterKeysource, envKeysource, valueKeysource], {
    error: 'must be one of { "secret": id, "field"?: key }, { "parameter": name }, { "env": name }, { "value": "..." }',
  })
  .check(
    z.superRefine((ref, ctx) => {
      // The worker's environment also holds its AWS credentials: config may read only its own variables.
      if ('env' in ref && !ENV_KEYSOURCE_PATTERN.test(ref.env)) {
        ctx.addIssue({ code: 'custom', path: ['env'], message: `must name a variable starting with ${ENV_KEYSOURCE_PREFIX} (got ${ref.env})` });
      }
    }),
  );
export type Keysource = z.infer<typeof keysourceSchema>;

/** Keysources a queue message may name: a message must never carry a secret or read the environment. */
export const messageKeysourceSchema = z.union([secretKeysource, parameterKeysource], {
  error: 'must be { "secret": id, "field"?: key } or { "parameter": name } (a message may not carry "value" or "env")',
});

export const AUTH_TYPES = ['PLAIN', 'LOGIN', 'XOAUTH2', 'NONE'] as const;
export type AuthType = (typeof AUTH_TYPES)[number];

/**
 * An OAuth2 client from which the worker obtains XOAUTH2 access tokens: client credentials
 * (`scope`, e.g. Microsoft 365's `https://outlook.office365.com/.default`) or a refresh token
 * (Google, delegated Microsoft). `tenantId` is shorthand for Microsoft's token endpoint.
 */
export const oauth2ClientSchema = z
  .strictObject({
    tokenUrl: z.optional(z.url({ protocol: /^https?$/, error: 'must be an https URL' })),
    /** Allow `http://` to a loopback token URL (a local test endpoint). @default false */
    allowLoopbackHttp: z.optional(z.boolean('must be true or false')),
    tenantId: z.optional(z.string().check(z.regex(/^[A-Za-z0-9.-]{1,256}$/, 'must be a tenant id or domain'))),
    clientId: safeString(512),
    clientSecret: z.optional(keysourceSchema),
    scope: z.optional(safeString(2048)),
    refreshToken: z.optional(keysourceSchema),
  })
  .check(
    z.superRefine((value, ctx) => {
      if ((value.tokenUrl === undefined) === (value.tenantId === undefined)) {
        ctx.addIssue({ code: 'custom', path: ['tokenUrl'], message: 'give exactly one of tokenUrl or tenantId' });
      }
      const urlProblem = value.tokenUrl === undefined ? undefined : tokenUrlProblem(value.tokenUrl, value.allowLoopbackHttp);
      if (urlProblem) ctx.addIssue({ code: 'custom', path: ['tokenUrl'], message: urlProblem });
      if (value.scope === undefined && value.refreshToken === undefined) {
        ctx.addIssue({ code: 'custom', path: ['scope'], message: 'give scope (client credentials) or refreshToken' });
      }
    }),
  );
export type OAuth2Client = z.infer<typeof oauth2ClientSchema>;

/**
 * A Lambda function to invoke as the auth hook (docs/design.md §2): a name (`tenant-auth`), a
 * name with a version or alias (`tenant-auth:live`), a partial ARN
 * (`123456789012:function:tenant-auth`) or a full ARN. The stack must grant it
 * (`authHookFunctionArns`).
 */
export const LAMBDA_FUNCTION_PATTERN =
  /^(?:arn:aws[a-zA-Z-]*:lambda:[a-z]{2}(?:-gov|-iso[a-z]*)?-[a-z]+-\d{1}:\d{12}:function:|\d{12}:function:)?[A-Za-z0-9_-]{1,64}(?::(?:\$LATEST|[A-Za-z0-9_-]{1,128}))?$/;
export const lambdaFunctionName = z
  .string()
  .check(z.regex(LAMBDA_FUNCTION_PATTERN, 'must be a Lambda function name, name:alias, or function ARN (arn:aws:lambda:<region>:<account>:function:<name>)'));

export const authSchema = z.strictObject({
  type: z.optional(z.enum(AUTH_TYPES, { error: 'must be PLAIN, LOGIN, XOAUTH2 or NONE' })),
  user: z.optional(safeString(512)),
  pass: z.optional(keysourceSchema),
  key: z.optional(safeString(512)),
  oauth2: z.optional(oauth2ClientSchema),
  /**
   * Keysource name prefixes a message's own `auth.pass` may name on this route (docs/design.md §2);
   * default none. Each ends with `/`; compared like the secret prefix (a leading `/` is ignored).
   */
  messageKeysources: z.optional(
    z
      .array(
        safeString(512).check(
          z.refine((prefix) => prefix.endsWith('/') && prefix.replace(/^\/+/, '') !== '', 'must be a name prefix ending with "/" (e.g. "mailrelay/acme/")'),
        ),
        'must be an array of keysource prefixes',
      )
      .check(z.maxLength(50, 'must list at most 50 prefixes')),
  ),
  hookFunction: z.optional(lambdaFunctionName),
});
export type AuthSettings = z.infer<typeof authSchema>;

/** The per-message `auth` override: any auth field, but `pass` only as secret/parameter keysource. */
export const messageAuthSchema = z.strictObject({
  type: z.optional(z.enum(AUTH_TYPES, { error: 'must be PLAIN, LOGIN, XOAUTH2 or NONE' })),
  user: z.optional(safeString(512)),
  pass: z.optional(messageKeysourceSchema),
  key: z.optional(safeString(512)),
});
export type MessageAuthOverride = z.infer<typeof messageAuthSchema>;

export const TLS_MODES = ['starttls', 'implicit', 'none'] as const;
export type TlsMode = (typeof TLS_MODES)[number];

const hostname = z
  .string()
  .check(
    z.minLength(1, 'must not be empty'),
    z.maxLength(253, 'must be at most 253 characters'),
    z.regex(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?)$/, 'must be a host name or IP address'),
  );

export const relaySchema = z.strictObject({
  host: z.optional(hostname),
  port: z.optional(z.int('must be an integer').check(z.gte(1, 'must be 1-65535'), z.lte(65535, 'must be 1-65535'))),
  tls: z.optional(z.enum(TLS_MODES, { error: 'must be starttls, implicit or none' })),
  allowInsecureAuth: z.optional(z.boolean('must be true or false')),
  verifyCertificate: z.optional(z.boolean('must be true or false')),
  ehloName: z.optional(hostname.check(z.refine((name) => name.toLowerCase() !== 'localhost', 'must not be localhost (relays reject or score it)'))),
  timeoutSeconds: z.optional(z.number('must be a number').check(z.positive('must be positive'), z.lte(600, 'must be at most 600'))),
});
export type RelaySettings = z.infer<typeof relaySchema>;

/** `relay` is one relay block or an ordered failover list of them (a list replaces a list whole). */
export const MAX_RELAYS = 5;
const relayArraySchema = z.array(relaySchema).check(z.minLength(1, 'must list at least one relay'), z.maxLength(MAX_RELAYS, `must list at most ${MAX_RELAYS} relays`));
/** Dispatched on the shape, so an error names the field (`relay.tls`, `relay[1].port`), not "invalid union". */
export const relayListSchema = z.custom<RelaySettings | RelaySettings[]>().check(
  z.superRefine((value, ctx) => {
    const schema = Array.isArray(value) ? relayArraySchema : relaySchema;
    const result = schema.safeParse(value);
    if (result.success) return;
    // Forwarded whole (an unknown key stays `unrecognized_keys`, reported as "unknown field").
    for (const issue of result.error.issues) ctx.addIssue({ ...issue } as Parameters<typeof ctx.addIssue>[0]);
  }),
);
export type RelayField = RelaySettings | RelaySettings[];

/** SQS's visibility limit: no retry interval can be longer (docs/design.md §2, `delivery`). */
export const MAX_RETRY_INTERVAL_SECONDS = 43_200;
/** SQS keeps a message at most 14 days; the queue must outlive the oldest message (infra checks it). */
export const MAX_AGE_SECONDS_LIMIT = 14 * 86_400;

/** The retry policy of a message (Postfix's queue lifetime and backoff). Global, group and binding only. */
export const deliverySchema = z
  .strictObject({
    maxAgeSeconds: z.optional(
      z.int('must be an integer').check(z.gte(60, 'must be at least 60'), z.lte(MAX_AGE_SECONDS_LIMIT, `must be at most ${MAX_AGE_SECONDS_LIMIT} (14 days, SQS's longest retention)`)),
    ),
    retryIntervalSeconds: z.optional(z.int('must be an integer').check(z.gte(1, 'must be 1-43200'), z.lte(MAX_RETRY_INTERVAL_SECONDS, 'must be 1-43200'))),
    maxRetryIntervalSeconds: z.optional(
      z.int('must be an integer').check(z.gte(1, 'must be 1-43200'), z.lte(MAX_RETRY_INTERVAL_SECONDS, 'must be at most 43200 (12 hours, SQS\'s visibility limit)')),
    ),
  })
  .check(
    z.superRefine((value, ctx) => {
      if (value.retryIntervalSeconds !== undefined && value.maxRetryIntervalSeconds !== undefined && value.maxRetryIntervalSeconds < value.retryIntervalSeconds) {
        ctx.addIssue({ code: 'custom', path: ['maxRetryIntervalSeconds'], message: 'must be at least retryIntervalSeconds' });
      }
    }),
  );
export type DeliverySettings = z.infer<typeof deliverySchema>;

/**
 * DKIM signing (global, binding group, binding; docs/design.md §2 `dkim`). The signer is
 * nodemailer's, which signs `rsa-sha256` only: `ed25519-sha256` is named by the contract and
 * refused here with that reason rather than sending unsigned mail.
 */
export const DKIM_ALGORITHMS = ['rsa-sha256', 'ed25519-sha256'] as const;
export type DkimAlgorithm = (typeof DKIM_ALGORITHMS)[number];
/** A header field name (RFC 5322 ftext: printable ASCII but `:`). */
const HEADER_NAME = /^[!-9;-~]{1,76}$/;
export const MAX_DKIM_HEADERS = 64;
export const dkimSchema = z
  .strictObject({
    domain: hostname,
    selector: z
      .string()
      .check(
        z.regex(/^[A-Za-z0-9](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9_-]{0,62}))*$/, 'must be a DNS label (letters, digits, "-", "_"), dots between labels'),
        z.maxLength(253, 'must be at most 253 characters'),
      ),
    privateKey: keysourceSchema,
    algorithm: z.optional(z.enum(DKIM_ALGORITHMS, { error: 'must be rsa-sha256 or ed25519-sha256' })),
    headers: z.optional(
      z
        .array(z.string().check(z.regex(HEADER_NAME, 'must be a header field name')))
        .check(z.minLength(1, 'must list at least From'), z.maxLength(MAX_DKIM_HEADERS, `must list at most ${MAX_DKIM_HEADERS} fields`)),
    ),
  })
  .check(
    z.superRefine((value, ctx) => {
      if (value.algorithm === 'ed25519-sha256') {
        ctx.addIssue({ code: 'custom', path: ['algorithm'], message: 'ed25519-sha256 cannot be signed by this worker (its signer, nodemailer, signs rsa-sha256 only): use rsa-sha256' });
      }
      if (value.headers !== undefined && !value.headers.some((h) => h.toLowerCase() === 'from')) {
        // RFC 6376 §5.4: the From field must be signed.
        ctx.addIssue({ code: 'custom', path: ['headers'], message: 'must include From (RFC 6376 §5.4)' });
      }
      if ('value' in value.privateKey) {
        // An inline key can be checked when written; a stored one when the worker first reads it.
        const problem = dkimKeyProblem(value.privateKey.value);
        if (problem !== undefined) ctx.addIssue({ code: 'custom', path: ['privateKey', 'value'], message: problem });
      }
      if (value.headers?.some((h) => h.toLowerCase() === 'dkim-signature')) {
        ctx.addIssue({ code: 'custom', path: ['headers'], message: 'must not list DKIM-Signature' });
      }
    }),
  );
export type DkimSettings = z.infer<typeof dkimSchema>;

export const limitsSchema = z.strictObject({
  maxConnections: z.optional(z.int('must be an integer').check(z.gte(1, 'must be 1-100'), z.lte(100, 'must be 1-100'))),
  maxMessagesPerConnection: z.optional(z.int('must be an integer').check(z.gte(1, 'must be 1-100000'), z.lte(100_000, 'must be 1-100000'))),
  /** Messages per second to the relay across the fleet, smooth (0.5 = 30 a minute). Absent: no rate limit. */
  messagesPerSecond: z.optional(z.number('must be a number').check(z.positive('must be more than 0'), z.lte(10_000, 'must be at most 10000'))),
  /** A session older than this is retired before its next message (relays cap a session's age). */
  maxConnectionAgeSeconds: z.optional(z.int('must be an integer').check(z.gte(10, 'must be 10-86400'), z.lte(86_400, 'must be 10-86400'))),
  /** Count the limits per authenticated user at the relay, not per relay (Microsoft 365 limits per mailbox). */
  perUser: z.optional(z.boolean('must be true or false')),
});
export type LimitSettings = z.infer<typeof limitsSchema>;

/** `*`, or an IAM unique id (role `AROA…`, user `AIDA…`, account id), optionally with `:<role session>`. */
export const PRODUCER_PATTERN = /^(\*|[A-Za-z0-9]{12,128}(:[A-Za-z0-9_+=,.@-]{1,64})?)$/;

export const SCOPE_PATTERN = /^(global|binding-group#[a-z0-9._-]{1,128}|binding#[a-z0-9._-]{1,128}|domain#[a-z0-9.-]{1,253})$/;

export const configItemSchema = z
  .strictObject({
    scope: z.pipe(
      z.pipe(z.string(), z.transform((value: string) => value.toLowerCase())),
      z.string().check(z.regex(SCOPE_PATTERN, 'must be global, binding-group#<name>, binding#<name> or domain#<domain> (domain as A-label)')),
    ),
    group: z.optional(bindingName),
    /**
     * On a binding item: the producers (the SQS SenderId: an IAM role id `AROA…`, a user id, an
     * account id) that may send messages naming this binding; `*` is any. Absent: any producer.
     */
    producers: z.optional(
      z
        .array(z.string().check(z.regex(PRODUCER_PATTERN, 'must be "*" or an IAM principal id (e.g. a role id AROA…, optionally ":session")')), 'must be an array of principal ids')
        .check(z.minLength(1, 'must list at least one producer (or leave producers out: any producer)'), z.maxLength(100, 'must list at most 100 producers')),
    ),
    description: z.optional(z.string().check(z.maxLength(1024, 'must be at most 1024 characters'))),
    relay: z.optional(relayListSchema),
    auth: z.optional(authSchema),
    limits: z.optional(limitsSchema),
    delivery: z.optional(deliverySchema),
    dkim: z.optional(dkimSchema),
    /** Written by the CLI; informational. */
    updatedAt: z.optional(z.string()),
  })
  .check(
    z.superRefine((item, ctx) => {
      if (item.group !== undefined && !item.scope.startsWith('binding#')) {
        ctx.addIssue({ code: 'custom', path: ['group'], message: 'only a binding#<name> item may name a group' });
      }
      if (item.delivery !== undefined && item.scope.startsWith('domain#')) {
        // A message's lifetime is one thing even when its recipients go to several domains.
        ctx.addIssue({ code: 'custom', path: ['delivery'], message: 'is set per message (global, binding-group or binding), not per recipient domain' });
      }
      if (item.dkim !== undefined && item.scope.startsWith('domain#')) {
        // The signer speaks for the sender (its d= domain), whoever receives the message.
        ctx.addIssue({ code: 'custom', path: ['dkim'], message: 'is set per sender (global, binding-group or binding), not per recipient domain' });
      }
      if (item.producers !== undefined && !item.scope.startsWith('binding#')) {
        ctx.addIssue({ code: 'custom', path: ['producers'], message: 'only a binding#<name> item may list producers' });
      }
    }),
  );
export type ConfigItem = z.infer<typeof configItemSchema>;

/**
 * Validate a config item as stored or written.
 * @throws ConfigValidationError naming each bad field's path.
 * @example
 * parseConfigItem({ scope: 'domain#partner.example', auth: { type: 'LOGIN' } });
 */
export function parseConfigItem(input: unknown): ConfigItem {
  const cleaned = stripNulls(input);
  const result = configItemSchema.safeParse(cleaned);
  if (result.success) return result.data;
  const scope = typeof (cleaned as { scope?: unknown } | null)?.scope === 'string' ? (cleaned as { scope: string }).scope : undefined;
  throw new ConfigValidationError(scope, toFieldIssues(result.error), { cause: result.error });
}
