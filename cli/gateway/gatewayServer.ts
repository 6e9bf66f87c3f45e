/**
 * `mailrelay gateway`: SMTP submission into the queue (docs/design.md §3.1). One smtp-server on
 * the submission port (STARTTLS) and, optionally, one on the implicit TLS port; both share the
 * handlers below. Each handler is one SMTP step: AUTH (authenticate.ts), MAIL FROM (the
 * submitter's `fromDomains`), RCPT TO (the worker's address rules and recipient limit), DATA
 * (readMessageData.ts, queueMessage.ts, then submitMessage.ts: the queue, and the payload bucket
 * first for a body over 256 KiB). 250 only once the queue (and the bucket) have the message.
 */
import type { Socket } from 'node:net';
import { hostname as osHostname } from 'node:os';
import type { Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { SMTPServer, type SMTPServerAddress, type SMTPServerAuthentication, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';
import { parseMailbox } from '../../lambda/core/message/addresses.js';
import { MAX_BODY_BYTES, MAX_RECIPIENTS } from '../../lambda/core/message/constants.js';
import { describePointer, MAX_PAYLOAD_BYTES } from '../../lambda/core/payloads.js';
import { AuthFailureThrottle } from './authFailureThrottle.js';
import { createAuthenticator, type Authenticator, type SubmissionIdentity } from './authenticate.js';
import { MAX_CLIENTS, MAX_MESSAGE_BYTES, MAX_OFFLOADED_MESSAGE_BYTES, SOCKET_TIMEOUT_MS } from './constants.js';
import { JsonLineEvents } from './events.js';
import type { GatewayEvent, GatewayEventSink, PayloadOffload, SubmissionQueue } from './ports.js';
import { buildQueueMessage, receivedHeader } from './queueMessage.js';
import { readMessageData } from './readMessageData.js';
import { submitQueueMessage } from './submitMessage.js';
import type { SubmitterDirectory } from './submitterDirectory.js';

export interface GatewayOptions {
  readonly directory: SubmitterDirectory;
  readonly queue: SubmissionQueue;
  /**
   * The stack's payload bucket: bodies over 256 KiB go there first and the queue gets an SQS
   * Extended Client pointer (docs/payloads.md). Absent = no offload, and the SQS-sized limit.
   */
  readonly offload?: PayloadOffload;
  /** PEM certificate (chain) and private key the listeners present. */
  readonly tls: { readonly cert: string | Buffer; readonly key: string | Buffer };
  /** Address to bind.  @default '127.0.0.1' */
  readonly host?: string;
  /** Submission port, STARTTLS; 0 picks a free port.  @default 587 */
  readonly port?: number;
  /** Implicit TLS port (465 style); absent = no such listener. */
  readonly implicitTlsPort?: number;
  /** The name in the greeting and in `Received:`.  @default the OS host name */
  readonly serverName?: string;
  /**
   * Announced as SIZE and enforced.  @default MAX_OFFLOADED_MESSAGE_BYTES (40 MiB minus the queue
   * envelope reserve) with `offload`, else MAX_MESSAGE_BYTES (1 MiB minus the reserve)
   */
  readonly maxMessageBytes?: number;
  readonly events?: GatewayEventSink;
  /** @default a throttle with the defaults of constants.ts */
  readonly throttle?: AuthFailureThrottle;
  /** @default MAX_CLIENTS */
  readonly maxClients?: number;
  /** How the AUTH failure delay waits (tests may shorten it).  @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
}

export interface Gateway {
  readonly host: string;
  readonly port: number;
  readonly implicitTlsPort?: number | undefined;
  /** Open SMTP connections on both listeners (what the service scales on). */
  activeConnections(): number;
  /** Stops accepting, closes every connection; resolves when both listeners are closed. */
  stop(): Promise<void>;
}

/** An SMTP reply refusing a step, as smtp-server takes it from a handler's callback. */
type ReplyError = Error & { responseCode: number };
const reply = (code: number, message: string): ReplyError => Object.assign(new Error(message), { responseCode: code });

/** The parts of smtp-server's connection object the STARTTLS guard touches (not in its types). */
interface ConnectionInternals {
  secure: boolean;
  send(code: number, message: string): void;
  _onCommand(command: Buffer, callback: () => void): void;
}

/** Commands that need TLS first on the submission port. */
const TLS_FIRST = new Set(['AUTH', 'MAIL', 'RCPT', 'DATA']);

/**
 * smtp-server answers AUTH before STARTTLS with a non-standard 538 and still lists AUTH in EHLO;
 * docs/design.md §3.1 wants AUTH neither advertised nor accepted before TLS, and 530 5.7.0 (RFC
 * 3207 §4, Postfix). AUTH is disabled per session until TLS (so EHLO does not list it), and this
 * guard answers AUTH, MAIL, RCPT and DATA before TLS without reading any argument (so no credential
 * is decoded, nothing prompts for one).
 */
class SubmissionServer extends SMTPServer {
  public override connect(socket: Socket | TLSSocket, socketOptions?: Parameters<SMTPServer['connect']>[1]): void {
    super.connect(socket, socketOptions);
    let connection: ConnectionInternals | undefined;
    for (const candidate of this.connections) connection = candidate as unknown as ConnectionInternals;
    if (!connection) return;
    const conn = connection;
    const original = conn._onCommand.bind(conn);
    conn._onCommand = (command, callback) => {
      const verb = (command ?? '').toString().split(' ', 1)[0]!.toUpperCase();
      if (!conn.secure && TLS_FIRST.has(verb)) {
        conn.send(530, verb === 'AUTH' ? 'Must issue a STARTTLS command first: AUTH is only offered over TLS' : 'Must issue a STARTTLS command first');
        setImmediate(callback);
        return;
      }
      original(command, callback);
    };
  }
}

/**
 * Start the gateway's listeners.
 * @example
 * const gateway = await startGateway({ directory, queue, tls: { cert, key }, port: 0 });
 * console.log(gateway.port);
 * await gateway.stop();
 */
export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const host = options.host ?? '127.0.0.1';
  const events = options.events ?? new JsonLineEvents();
  const throttle = options.throttle ?? new AuthFailureThrottle();
  const authenticator = createAuthenticator({ directory: options.directory, throttle });
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const serverName = options.serverName ?? osHostname();
  const maxMessageBytes = options.maxMessageBytes ?? (options.offload ? MAX_OFFLOADED_MESSAGE_BYTES : MAX_MESSAGE_BYTES);
  const handlers = createHandlers({ authenticator, events, sleep, serverName, maxMessageBytes, queue: options.queue, offload: options.offload });

  const serverOptions = (secure: boolean): SMTPServerOptions => ({
    secure,
    key: options.tls.key,
    cert: options.tls.cert,
    name: serverName,
    banner: 'mailrelay gateway: ESMTP submission',
    size: maxMessageBytes,
    authMethods: ['PLAIN', 'LOGIN'],
    authOptional: false,
    allowInsecureAuth: false,
    // DSN and REQUIRETLS promise things the queue message cannot carry on.
    hideDSN: true,
    // 530 5.7.0, 535 5.7.8, 552 5.3.4...: clients and logs read the enhanced code (RFC 2034).
    hideENHANCEDSTATUSCODES: false,
    hideREQUIRETLS: true,
    maxClients: options.maxClients ?? MAX_CLIENTS,
    socketTimeout: SOCKET_TIMEOUT_MS,
    logger: false,
    ...handlers,
  });

  const submission = new SubmissionServer(serverOptions(false));
  const servers: SMTPServer[] = [submission];
  const port = await listen(submission, host, options.port ?? 587);
  let implicitTlsPort: number | undefined;
  if (options.implicitTlsPort !== undefined) {
    const implicit = new SubmissionServer(serverOptions(true));
    servers.push(implicit);
    try {
      implicitTlsPort = await listen(implicit, host, options.implicitTlsPort);
    } catch (error) {
      await close(submission);
      throw error;
    }
  }
  let stopping: Promise<void> | undefined;
  return {
    host,
    port,
    implicitTlsPort,
    activeConnections: () => servers.reduce((sum, server) => sum + server.connections.size, 0),
    stop() {
      stopping ??= Promise.all(servers.map(close)).then(() => undefined);
      return stopping;
    },
  };
}

interface HandlerDeps {
  readonly authenticator: Authenticator;
  readonly events: GatewayEventSink;
  readonly sleep: (ms: number) => Promise<void>;
  readonly serverName: string;
  readonly maxMessageBytes: number;
  readonly queue: SubmissionQueue;
  readonly offload?: PayloadOffload | undefined;
}

type Handlers = Required<Pick<SMTPServerOptions, 'onConnect' | 'onSecure' | 'onAuth' | 'onMailFrom' | 'onRcptTo' | 'onData'>>;

function createHandlers(deps: HandlerDeps): Handlers {
  const { events } = deps;
  const base = (session: SMTPServerSession): Pick<GatewayEvent, 'sessionId' | 'clientAddress'> => ({ sessionId: session.id, clientAddress: session.remoteAddress });
  const identityOf = (session: SMTPServerSession): SubmissionIdentity | undefined => (session.user ? (session.user as SubmissionIdentity) : undefined);

  return {
    onConnect(session, callback) {
      // Before TLS the session offers no AUTH at all: EHLO does not list it (see SubmissionServer).
      if (!session.secure) session.disabledCommands = ['AUTH'];
      events.emit({ event: 'connected', ...base(session), secure: session.secure });
      callback();
    },

    onSecure(_socket, session, callback) {
      session.disabledCommands = [];
      callback();
    },

    onAuth(auth: SMTPServerAuthentication, session, callback) {
      void (async () => {
        if (!session.secure || (auth.method !== 'PLAIN' && auth.method !== 'LOGIN')) {
          // Unreachable through the guard and authMethods; refused all the same.
          return callback(reply(504, 'Unrecognized authentication type'));
        }
        const decision = await deps.authenticator.authenticate({
          method: auth.method,
          // RFC 4616 strictly: the authentication identity is the authcid, never the authzid.
          authcid: auth.method === 'PLAIN' ? (auth.authcid ?? '') : auth.username ?? '',
          authzid: auth.method === 'PLAIN' ? (auth.authzid ?? '') : '',
          password: auth.password ?? '',
          clientAddress: session.remoteAddress,
        });
        if (decision.ok) {
          const { authnId, authzId, method, submitter } = decision.identity;
          events.emit({ event: 'auth-succeeded', code: 235, ...base(session), authnId, authzId, method, binding: submitter.binding });
          return callback(null, { user: decision.identity });
        }
        const attempted = auth.method === 'PLAIN' ? (auth.authcid ?? '') : (auth.username ?? '');
        const name = decision.reason === 'locked-out' ? 'auth-locked-out' : decision.reason === 'unavailable' ? 'auth-unavailable' : 'auth-failed';
        events.emit({
          event: name,
          code: decision.code,
          ...base(session),
          method: auth.method,
          authnId: attempted.slice(0, 128),
          reason: decision.reason,
          ...(decision.failures !== undefined && { failures: decision.failures }),
          ...(decision.lockedOut && { lockedOut: true }),
          ...(decision.detail !== undefined && { detail: decision.detail }),
        });
        if (decision.delayMs > 0) await deps.sleep(decision.delayMs);
        callback(reply(decision.code, decision.message));
      })().catch((error: unknown) => {
        events.emit({ event: 'auth-unavailable', code: 454, ...base(session), detail: String(error) });
        callback(reply(454, 'Temporary authentication failure; try again later'));
      });
    },

    onMailFrom(address: SMTPServerAddress, session, callback) {
      const identity = identityOf(session);
      if (!identity) return callback(reply(530, 'Authentication required'));
      const parsed = address.address === '' ? undefined : parseMailbox(address.address);
      const allowed = parsed?.ok === true && identity.submitter.fromDomains.includes(parsed.address.domain);
      if (!allowed) {
        const why = parsed === undefined ? 'the null sender <> is not accepted for submission' : parsed.ok ? `${parsed.address.domain} is not a sender domain of ${identity.authnId}` : parsed.reason;
        events.emit({ event: 'mail-refused', code: 550, ...base(session), authnId: identity.authnId, reason: why });
        return callback(reply(550, `Sender <${address.address}> not allowed: ${why}`));
      }
      callback();
    },

    onRcptTo(address: SMTPServerAddress, session, callback) {
      if (session.envelope.rcptTo.length >= MAX_RECIPIENTS) {
        events.emit({ event: 'rcpt-refused', code: 452, ...base(session), reason: 'too-many-recipients' });
        return callback(reply(452, `Too many recipients: at most ${MAX_RECIPIENTS} per message`));
      }
      const parsed = parseMailbox(address.address);
      if (!parsed.ok) {
        events.emit({ event: 'rcpt-refused', code: 553, ...base(session), reason: parsed.reason });
        return callback(reply(553, `Recipient <${address.address}> not accepted: ${parsed.reason}`));
      }
      callback();
    },

    onData(stream: Readable & { sizeExceeded?: boolean }, session, callback) {
      void receiveMessage(stream, session, deps).then(
        (result) => (result.ok ? callback(null, result.message) : callback(reply(result.code, result.message))),
        (error: unknown) => {
          events.emit({ event: 'queue-failed', code: 451, ...base(session), detail: String(error) });
          callback(reply(451, 'Temporary failure queueing the message; try again later'));
        },
      );
    },
  };
}

type ReceiveResult = { readonly ok: true; readonly message: string } | { readonly ok: false; readonly code: number; readonly message: string };

/** DATA: read and check the message, build the queue message, send it; 250 only after the queue said yes. */
async function receiveMessage(stream: Readable, session: SMTPServerSession, deps: HandlerDeps): Promise<ReceiveResult> {
  const identity = session.user as SubmissionIdentity;
  const at = { sessionId: session.id, clientAddress: session.remoteAddress, authnId: identity.authnId };
  const read = await readMessageData(stream, deps.maxMessageBytes);
  if (!read.ok) {
    deps.events.emit({ event: 'message-refused', code: read.code, ...at, reason: read.reason });
    return read;
  }
  const receivedAt = new Date();
  const cipher = session.tlsOptions ? (session.tlsOptions as { name?: string; standardName?: string; version?: string }) : undefined;
  const built = buildQueueMessage({
    data: read.data,
    received: receivedHeader({
      heloName: session.hostNameAppearsAs,
      clientAddress: session.remoteAddress,
      serverName: deps.serverName,
      tlsProtocol: cipher?.version,
      tlsCipher: cipher?.standardName ?? cipher?.name,
      sessionId: session.id,
      receivedAt,
    }),
    envelope: { from: (session.envelope.mailFrom as SMTPServerAddress).address, to: session.envelope.rcptTo.map((rcpt) => rcpt.address) },
    binding: identity.submitter.binding,
    submission: { authnId: identity.authnId, authzId: identity.authzId, clientAddress: session.remoteAddress, receivedAt: receivedAt.toISOString() },
    maxBodyBytes: deps.offload ? MAX_PAYLOAD_BYTES : MAX_BODY_BYTES,
  });
  if (!built.ok) {
    deps.events.emit({ event: 'message-refused', code: built.code, ...at, reason: built.reason, detail: built.message });
    return built;
  }
  // Never the body in an event: ids, sizes and the object's location only.
  const sent = await submitQueueMessage(built.body, deps);
  if (!sent.ok) {
    const detail = sent.error instanceof Error ? `${sent.error.name}: ${sent.error.message}` : String(sent.error);
    deps.events.emit({
      event: sent.stage === 'offload' ? 'offload-failed' : 'queue-failed',
      code: 451,
      ...at,
      idempotencyKey: built.idempotencyKey,
      ...(sent.stage === 'offload' && { bucket: deps.offload?.bucket }),
      // Stored but not queued: left to the bucket's lifecycle rule (submitMessage.ts says why).
      ...(sent.payload && { payload: describePointer(sent.payload) }),
      detail,
    });
    return { ok: false, code: 451, message: 'Temporary failure queueing the message; try again later' };
  }
  deps.events.emit({
    event: 'message-queued',
    code: 250,
    ...at,
    authzId: identity.authzId,
    binding: identity.submitter.binding,
    idempotencyKey: built.idempotencyKey,
    sqsMessageId: sent.messageId,
    recipients: session.envelope.rcptTo.length,
    bytes: read.data.length,
    ...(sent.payload && { payload: describePointer(sent.payload) }),
  });
  return { ok: true, message: `OK: queued as ${built.idempotencyKey}` };
}

function listen(server: SMTPServer, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.server.once('error', onError);
    server.listen(port, host, () => {
      server.server.off('error', onError);
      resolve((server.server.address() as { port: number }).port);
    });
  });
}

function close(server: SMTPServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
