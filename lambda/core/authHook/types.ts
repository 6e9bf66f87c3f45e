/**
 * The per-message auth hook (docs/design.md §2): Momentum's `outbound_smtp_auth_config(msg)`.
 * Operator code that runs just before AUTH and answers with auth fields that override every scope
 * and the message's own `auth`. What it is handed and what it may answer are defined here.
 */
import type { AuthType, Keysource, OAuth2Client, TlsMode } from '../config/schema.js';

/** A keysource as the hook sees it: a reference, never a secret (an inline `value` is hidden). */
export type KeysourceReference = Keysource | { readonly value: '(inline value hidden)' };

/**
 * What the hook is handed: the message's metadata and its route, never its body, never a secret.
 * The same object, as JSON, is the payload of a function hook.
 */
export interface AuthHookContext {
  /** The envelope sender. */
  readonly from: string;
  /** The recipients' domains on this route (A-labels, lower case); the first is `recipientDomain`. */
  readonly recipientDomain: string;
  readonly recipientDomains: readonly string[];
  /** The binding (by default the sender's domain). */
  readonly binding: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly idempotencyKey: string;
  /** The relay this attempt is about to connect to. */
  readonly route: { readonly host: string; readonly port: number; readonly tls: TlsMode };
  /** The auth resolved from the scopes and the message so far; `key` is Momentum's `outbound_smtp_auth_key`. */
  readonly auth: {
    readonly type: AuthType;
    readonly user?: string | undefined;
    readonly pass?: KeysourceReference | undefined;
    readonly key?: string | undefined;
    readonly oauth2?: unknown;
  };
}

/**
 * What the hook may answer (all optional). `pass` is a keysource or, from the hook only, the
 * literal secret. Nothing (undefined or null) leaves the resolved auth unchanged.
 */
export interface AuthHookAnswer {
  readonly type?: AuthType | undefined;
  readonly user?: string | undefined;
  readonly pass?: string | Keysource | undefined;
  readonly oauth2?: OAuth2Client | undefined;
}

/** The export a module hook provides. */
export type OutboundSmtpAuthConfig = (
  context: AuthHookContext,
  options: { readonly signal: AbortSignal },
) => AuthHookAnswer | null | undefined | void | Promise<AuthHookAnswer | null | undefined | void>;

/** The shape of a module hook (`export function outboundSmtpAuthConfig(context) {...}`). */
export interface AuthHookModule {
  readonly outboundSmtpAuthConfig?: OutboundSmtpAuthConfig | undefined;
}

/**
 * Invokes a function hook (`auth.hookFunction`) synchronously: the Lambda adapter in the worker,
 * in memory in tests.
 * @returns the function's answer, parsed from JSON (anything: the runner validates it).
 * @throws on timeout, throttling, an error the function raised, or a payload that is not JSON.
 */
export interface AuthHookInvoker {
  invoke(functionName: string, context: AuthHookContext, options: { readonly timeoutMs: number; readonly signal: AbortSignal }): Promise<unknown>;
}
