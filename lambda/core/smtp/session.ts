/**
 * One SMTP client session on nodemailer's SMTPConnection, with mailrelay's guarantees on top:
 * credentials are sent only over TLS (STARTTLS done or implicit TLS) unless the scope sets
 * `allowInsecureAuth`, and only with the configured mechanism, which the relay must advertise —
 * never silently another (docs/design.md §2, KumoMTA's `allow_smtp_auth_plain_without_tls`).
 */
import { isAscii } from 'node:buffer';
import { createSecureContext, rootCertificates, type ConnectionOptions, type SecureContext, type TLSSocket } from 'node:tls';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { PermanentDeliveryError, TransientDeliveryError, type DeliveryError } from '../errors.js';
import type { EffectiveRelay } from '../config/resolve.js';
import { asSessionFailure, classifySmtpError } from './classify.js';

export type SessionCredentials =
  | { readonly mechanism: 'NONE' }
  | { readonly mechanism: 'PLAIN' | 'LOGIN'; readonly user: string; readonly pass: string }
  | {
      readonly mechanism: 'XOAUTH2';
      readonly user: string;
      /** `renew` is true after the relay's XOAUTH2 error challenge: fetch a fresh token. */
      readonly getToken: (renew: boolean) => Promise<string>;
    };

export interface SessionOptions {
  readonly relay: EffectiveRelay;
  readonly credentials: SessionCredentials;
  /** Extra trusted CA certificates (local stand-ins and tests); public CAs are always trusted. */
  readonly ca?: string | Buffer | readonly (string | Buffer)[] | undefined;
  /**
   * Receives nodemailer's SMTP transaction log (`mailrelay check` prints it). nodemailer already
   * writes `/* secret *\/` in place of passwords and tokens; the caller must still not log AUTH
   * continuation lines as they are. Off in the worker. @default none
   */
  readonly transcript?: SMTPConnection['logger'] | undefined;
}

/** The negotiated TLS of a session, for `mailrelay check`. */
export interface SessionTls {
  readonly protocol: string | null;
  readonly cipher: string | undefined;
  /** The chain and host name were verified. */
  readonly verified: boolean;
}

/** The outcome of one transaction: which recipients the relay took and which it refused. */
export interface TransactionResult {
  readonly accepted: readonly string[];
  readonly rejected: readonly { readonly address: string; readonly responseCode?: number | undefined; readonly response?: string | undefined }[];
  /** The relay's reply to the end of DATA (`250 2.0.0 queued as ...`). */
  readonly response: string;
}

/** What nodemailer keeps about the EHLO reply; not in its public types, so read through one narrow view. */
interface ConnectionInternals {
  _supportedAuth?: unknown;
  _supportedExtensions?: unknown;
  _plaintextEhlo?: unknown;
  _maxAllowedSize?: unknown;
  /** The current transaction's envelope: `rejectedErrors` are the RCPT refusals so far. */
  _envelope?: { rejectedErrors?: unknown[] } | false;
}

export class SmtpSession {
  public readonly openedAt = Date.now();
  public lastUsedAt = Date.now();
  public messagesSent = 0;
  private closed = false;

  private constructor(private readonly connection: SMTPConnection) {
    connection.once('end', () => {
      this.closed = true;
    });
    connection.on('error', () => {
      this.closed = true;
    });
  }

  /**
   * Connect, negotiate TLS, check the mechanism and authenticate.
   * @throws PermanentDeliveryError `tls-required` / `auth-mechanism-unavailable` for relays that
   *   cannot meet the configuration; otherwise errors as {@link classifySmtpError} decides.
   */
  public static async open(options: SessionOptions): Promise<SmtpSession> {
    const { relay, credentials } = options;
    const timeoutMs = relay.timeoutSeconds * 1000;
    const connection = new SMTPConnection({
      host: relay.host,
      port: relay.port,
      secure: relay.tls === 'implicit',
      requireTLS: relay.tls === 'starttls',
      ignoreTLS: relay.tls === 'none',
      name: relay.ehloName,
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs,
      logger: options.transcript ?? false,
      transactionLog: options.transcript !== undefined,
      allowInternalNetworkInterfaces: true,
      tls: tlsOptions(relay, options.ca),
    });
    // Until the session is handed out, an 'error' event must not crash the process.
    const swallow = (): void => undefined;
    connection.on('error', swallow);
    try {
      await untilDone(connection, (done) => connection.connect((err) => done(err)));
    } catch (error) {
      connection.close();
      throw asSessionFailure(classifyConnectError(error, connection, relay));
    }

    try {
      if (credentials.mechanism !== 'NONE') {
        if (!connection.secure && !(relay.tls === 'none' && relay.allowInsecureAuth)) {
          throw new PermanentDeliveryError(`refusing to send credentials to ${relay.host}:${relay.port} without TLS`, { reason: 'tls-required' });
        }
        const offered = supportedAuth(connection);
        if (!offered.includes(credentials.mechanism)) {
          throw new PermanentDeliveryError(
            `relay ${relay.host}:${relay.port} does not offer AUTH ${credentials.mechanism} (it offers ${offered.length ? offered.join(', ') : 'no AUTH at all'})`,
            { reason: 'auth-mechanism-unavailable' },
          );
        }
        await untilDone(connection, (done) => login(connection, credentials).then(() => done(), done));
      }
    } catch (error) {
      connection.close();
      throw asSessionFailure(classifySmtpError(error));
    }
    const session = new SmtpSession(connection);
    connection.removeListener('error', swallow);
    return session;
  }

  /** The SIZE the relay announced in EHLO, or undefined when it announced none. */
  public get maxMessageSize(): number | undefined {
    const size = (this.connection as unknown as ConnectionInternals)._maxAllowedSize;
    return typeof size === 'number' && size > 0 ? size : undefined;
  }

  public get usable(): boolean {
    return !this.closed && !this.connection.destroyed;
  }

  /**
   * One SMTP transaction. Recipients refused at RCPT are reported in `rejected`, not thrown;
   * a failure of MAIL FROM, DATA or the transport throws a classified error.
   */
  public async send(envelope: { from: string; to: readonly string[] }, raw: Buffer): Promise<TransactionResult> {
    this.lastUsedAt = Date.now();
    const limit = this.maxMessageSize;
    if (limit !== undefined && raw.length > limit) {
      throw new PermanentDeliveryError(`message of ${raw.length} bytes is larger than the ${limit} bytes the relay announces (SIZE)`, {
        reason: 'message-too-large',
        command: 'MAIL FROM',
      });
    }
    const eightBit = !isAscii(raw);
    this.requireExtensions(envelope, eightBit);
    // Cleared so that a failure tells whether the relay answered anything in this transaction.
    this.connection.lastServerResponse = false;
    try {
      const info = await untilDone<SMTPConnection.SentMessageInfo>(this.connection, (done) =>
        // nodemailer adds SMTPUTF8 by itself when an address needs it and the relay offers it.
        this.connection.send({ from: envelope.from, to: [...envelope.to], size: raw.length, use8BitMime: eightBit }, raw, (err, result) =>
          done(err, result as SMTPConnection.SentMessageInfo),
        ),
      );
      this.messagesSent += 1;
      return {
        accepted: info.accepted,
        rejected: (info.rejectedErrors ?? []).map((e) => rejection(e)),
        response: info.response,
      };
    } catch (error) {
      const e = error as { code?: string; command?: string; rejectedErrors?: unknown[] };
      // Every recipient refused at RCPT: a normal per-recipient outcome, the session stays usable.
      if (e.code === 'EENVELOPE' && e.command === 'RCPT TO' && Array.isArray(e.rejectedErrors)) {
        // MAIL FROM was accepted, so the relay still holds the transaction: end it, or the next
        // MAIL FROM on this pooled connection is refused with 503 "nested MAIL command".
        await this.reset().catch(() => this.close());
        return { accepted: [], rejected: e.rejectedErrors.map((r) => rejection(r)), response: '' };
      }
      const failure = withRefusedRecipients(classifySmtpError(error), this.connection);
      // No reply at all, not even to MAIL FROM: a connection the relay had dropped (nodemailer says
      // command 'CONN'). No transaction began, so relay.ts may retry at once on a fresh connection.
      if (this.connection.lastServerResponse === false && failure.reason === 'connection' && failure.responseCode === undefined) {
        throw new TransientDeliveryError(failure.message, { reason: 'connection', command: 'MAIL FROM' }, { cause: error });
      }
      throw failure;
    } finally {
      this.lastUsedAt = Date.now();
    }
  }

  /**
   * docs/design.md §1.1: 8-bit content goes with BODY=8BITMIME (RFC 6152) and a non-ASCII address
   * with SMTPUTF8 (RFC 6531); a relay that lacks the extension the message needs gets nothing
   * rather than a silent 8-bit send it may mangle.
   * @throws PermanentDeliveryError `extension-unavailable`, naming the missing extension.
   */
  private requireExtensions(envelope: { from: string; to: readonly string[] }, eightBit: boolean): void {
    const offered = (this.connection as unknown as ConnectionInternals)._supportedExtensions;
    if (!Array.isArray(offered)) {
      // A nodemailer upgrade renamed the field: fail loudly rather than send 8-bit blind.
      throw new PermanentDeliveryError('cannot read the extensions the relay offers (nodemailer internals changed)', { reason: 'config-error' });
    }
    const missing: string[] = [];
    const nonAscii = [envelope.from, ...envelope.to].find((address) => /[^\x00-\x7F]/.test(address));
    if (nonAscii !== undefined && !offered.includes('SMTPUTF8')) missing.push(`SMTPUTF8 (the address ${nonAscii} is not ASCII)`);
    if (eightBit && !offered.includes('8BITMIME')) missing.push('8BITMIME (the message has 8-bit content)');
    if (missing.length === 0) return;
    throw new PermanentDeliveryError(`the relay does not offer ${missing.join(' and ')}, which this message needs`, {
      reason: 'extension-unavailable',
      command: 'MAIL FROM',
    });
  }

  /** RSET: ends a transaction and proves the connection is alive before it is reused. */
  public async reset(): Promise<void> {
    try {
      await untilDone(this.connection, (done) => this.connection.reset((err) => done(err)));
    } catch (error) {
      throw classifySmtpError(error);
    }
  }

  /** The negotiated TLS, or undefined on a connection without TLS. */
  public get tls(): SessionTls | undefined {
    const socket = this.connection._socket as TLSSocket | false | null;
    if (!socket || typeof socket.getProtocol !== 'function' || !socket.encrypted) return undefined;
    return { protocol: socket.getProtocol(), cipher: socket.getCipher?.()?.name, verified: socket.authorized === true };
  }

  /** QUIT, and wait (at most `waitMs`) for the relay to close the connection. */
  public async quit(waitMs = 5_000): Promise<void> {
    if (this.closed) return;
    if (this.connection.destroyed) {
      this.closed = true;
      return;
    }
    const ended = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, waitMs);
      timer.unref();
      this.connection.once('end', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.close();
    await ended;
  }

  /** QUIT and close. */
  public close(): void {
    if (this.closed) return;
    this.closed = true;
    this.connection.quit();
  }
}

/**
 * TLS options for a relay: verify the chain and the host name (unless the scope says not to),
 * TLS 1.2 or later, SNI for host names, and extra CAs *added* to Node's public roots — Node's
 * `ca` option alone would replace them, and public relays would stop verifying.
 */
export function tlsOptions(relay: Pick<EffectiveRelay, 'host' | 'verifyCertificate'>, ca?: SessionOptions['ca']): ConnectionOptions {
  const isIpLiteral = /^[\d.]+$|^\[.*\]$|:/.test(relay.host);
  return {
    rejectUnauthorized: relay.verifyCertificate,
    minVersion: 'TLSv1.2',
    ...(isIpLiteral ? {} : { servername: relay.host }),
    ...(ca ? { secureContext: secureContextFor(ca) } : {}),
  };
}

/** Node's public roots and the extra CAs, in that order: what a relay's certificate may chain to. */
export function trustedCas(ca: NonNullable<SessionOptions['ca']>): (string | Buffer)[] {
  return [...rootCertificates, ...[ca as string | Buffer | (string | Buffer)[]].flat()];
}

const MAX_CONTEXTS = 8;
const contexts = new Map<unknown, SecureContext>();

/**
 * One TLS context per extra-CA value, built once: building one parses Node's ~140 public roots
 * and the extra CAs, which cost ~20 ms of CPU and native memory per connection when every new
 * session built its own (a sandbox opening many sessions with RELAY_CA_FILE set). The pool hands
 * the same `ca` value to every session; a handful of values at most are kept.
 */
export function secureContextFor(ca: NonNullable<SessionOptions['ca']>): SecureContext {
  let context = contexts.get(ca);
  if (!context) {
    context = createSecureContext({ ca: trustedCas(ca), minVersion: 'TLSv1.2' });
    if (contexts.size >= MAX_CONTEXTS) contexts.delete(contexts.keys().next().value);
    contexts.set(ca, context);
  }
  return context;
}

/**
 * Runs one SMTPConnection operation to its end. nodemailer reports some failures only as an
 * 'error' event or a closed socket (a refused connection, a 421 greeting, a reset mid-AUTH), never
 * through the operation's callback: those end the operation too.
 */
function untilDone<T = void>(connection: SMTPConnection, start: (done: (err?: unknown, value?: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const finish = (err?: unknown, value?: T): void => {
      if (settled) return;
      settled = true;
      connection.removeListener('error', onError);
      connection.removeListener('end', onEnd);
      if (err) reject(err);
      else resolve(value as T);
    };
    const onError = (err: unknown): void => finish(err);
    // A relay that answers 421 closes the socket right after; let that reply's callback win.
    const onEnd = (): void =>
      void setImmediate(() => finish(Object.assign(new Error('connection closed by the relay'), { code: 'ECONNECTION', command: 'CONN' })));
    connection.once('error', onError);
    connection.once('end', onEnd);
    start(finish);
  });
}

/**
 * A transaction that broke after RCPT: the recipients the relay had already refused are kept on
 * the error (read from nodemailer's envelope, which holds them until the next transaction).
 */
function withRefusedRecipients(failure: DeliveryError, connection: SMTPConnection): DeliveryError {
  // With PIPELINING, RCPTs sent behind a refused MAIL FROM come back 503 "need MAIL": those say
  // nothing about the recipient. Only a refusal after MAIL was accepted is the recipient's own.
  if (failure.command === 'MAIL FROM') return failure;
  const envelope = (connection as unknown as ConnectionInternals)._envelope;
  const refused = (envelope && Array.isArray(envelope.rejectedErrors) ? envelope.rejectedErrors.map((e) => rejection(e)) : []).filter(
    (r) => r.address !== '' && r.responseCode !== undefined && r.responseCode >= 500 && r.responseCode !== 503,
  );
  if (refused.length === 0) return failure;
  const Type = failure instanceof TransientDeliveryError ? TransientDeliveryError : PermanentDeliveryError;
  return new Type(failure.message, { ...failure.details, refusedRecipients: refused }, { cause: failure });
}

function rejection(error: unknown): TransactionResult['rejected'][number] {
  const e = error as { recipient?: string; responseCode?: number; response?: string };
  return { address: e.recipient ?? '', responseCode: e.responseCode, response: e.response?.trim() };
}

function supportedAuth(connection: SMTPConnection): string[] {
  const offered = (connection as unknown as ConnectionInternals)._supportedAuth;
  if (!Array.isArray(offered)) {
    // A nodemailer upgrade renamed the field: fail loudly rather than guess the mechanism.
    throw new PermanentDeliveryError('cannot read the AUTH mechanisms the relay offers (nodemailer internals changed)', { reason: 'config-error' });
  }
  return offered.map((m) => String(m).toUpperCase());
}

function login(connection: SMTPConnection, credentials: Exclude<SessionCredentials, { mechanism: 'NONE' }>): Promise<void> {
  let tokenError: unknown;
  const auth =
    credentials.mechanism === 'XOAUTH2'
      ? {
          method: 'XOAUTH2',
          user: credentials.user,
          // nodemailer's XOAUTH2 hook: on the 334 error challenge it answers with an empty line and
          // asks again with renew=true, then retries AUTH once — exactly one renewal per failure.
          oauth2: {
            getToken(renew: boolean, callback: (err: Error | null, token?: string) => void) {
              credentials.getToken(renew).then(
                (token) => callback(null, token),
                (err: unknown) => {
                  tokenError = err;
                  callback(new Error('token unavailable'));
                },
              );
            },
            buildXOAuth2Token(token: string) {
              return Buffer.from(`user=${credentials.user}\x01auth=Bearer ${token}\x01\x01`, 'utf-8').toString('base64');
            },
          },
        }
      : { method: credentials.mechanism, user: credentials.user, pass: credentials.pass };
  return new Promise<void>((resolve, reject) =>
    connection.login(auth as SMTPConnection.AuthenticationType, (err) => {
      if (!err) return resolve();
      reject(tokenError ?? err);
    }),
  );
}

function classifyConnectError(error: unknown, connection: SMTPConnection, relay: EffectiveRelay) {
  const e = error as { code?: string; command?: string; responseCode?: number; response?: string };
  if (relay.tls === 'starttls' && e.code === 'ETLS' && e.command === 'STARTTLS' && typeof e.responseCode === 'number') {
    const ehlo = (connection as unknown as ConnectionInternals)._plaintextEhlo;
    const advertised = typeof ehlo === 'string' && /[ -]STARTTLS\b/im.test(ehlo);
    if (!advertised || e.responseCode >= 500) {
      return new PermanentDeliveryError(`relay ${relay.host}:${relay.port} offers no STARTTLS, and this route requires TLS (relay.tls = starttls)`, {
        reason: 'tls-required',
        responseCode: e.responseCode,
        response: e.response?.trim(),
        command: 'STARTTLS',
      });
    }
    return new TransientDeliveryError(`relay refused STARTTLS for now: ${e.response ?? ''}`.trim(), {
      reason: 'connection',
      responseCode: e.responseCode,
      response: e.response?.trim(),
      command: 'STARTTLS',
    });
  }
  return classifySmtpError(error);
}
