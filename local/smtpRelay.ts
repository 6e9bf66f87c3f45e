import type { Socket } from 'node:net';
import { SMTPServer } from 'smtp-server';
import type { SMTPServerDataStream, SMTPServerOptions, SMTPServerSession } from 'smtp-server';
import { testCerts } from './certs.js';

/**
 * A local SMTP relay for tests, `npm start` and the benchmark: a real `smtp-server` on
 * 127.0.0.1 that demands TLS and AUTH the way a submission service does, records everything
 * the client did (command verbs, AUTH attempts, messages) and can be scripted to answer
 * MAIL / RCPT / DATA / AUTH / the greeting with any reply code.
 *
 * Fixed behaviour of smtp-server that cannot be configured: it waits 100 ms after accepting a
 * connection before it sends the 220 greeting (to catch clients that talk too soon), so every
 * connection costs at least 100 ms. There is deliberately no `greetingDelayMs` option.
 */

/** How the relay offers TLS. */
export type RelayTlsMode = 'starttls' | 'implicit' | 'none';

/** SASL mechanisms the relay can offer. */
export type RelayAuthMethod = 'PLAIN' | 'LOGIN' | 'XOAUTH2';

/** A scripted SMTP reply. */
export interface SmtpReply {
  /** Reply code, 200–599. 4xx/5xx refuse the command; 2xx accepts it. */
  readonly code: number;
  /** Reply text. Default: `Accepted` (2xx), `Temporary failure` (4xx), `Rejected` (5xx). */
  readonly message?: string;
}

/** What a hook may return: a reply to override the relay's own answer, or nothing to let it answer. */
export type HookResult = SmtpReply | undefined | void;
type MaybePromise<T> = T | Promise<T>;

/** One SMTP connection as the relay saw it. Live object: fields change while the session runs. */
export interface SmtpSessionRecord {
  /** smtp-server's session id (also `ReceivedMessage.sessionId`, `AuthAttempt.sessionId`). */
  readonly id: string;
  /** Command verbs received, upper case, in order: `EHLO`, `STARTTLS`, `AUTH`, `MAIL`, `RCPT`, `DATA`, `QUIT`…
   *  AUTH continuation lines (LOGIN username/password, the XOAUTH2 empty reply) and message
   *  content are not commands and are not listed. */
  readonly commands: string[];
  /** The name the client gave in EHLO/HELO, once it has. */
  heloName?: string;
  /** Whether TLS is active now (implicit TLS, or after STARTTLS). */
  secure: boolean;
  /** The authenticated user, once AUTH succeeded (cleared again by STARTTLS, as RFC 3207 says). */
  user?: string;
  /** The mechanism of the successful AUTH. */
  authMethod?: RelayAuthMethod;
  /** True once the connection has closed. */
  closed: boolean;
}

/** One AUTH exchange that reached credential checking. Never holds the password or the token. */
export interface AuthAttempt {
  readonly sessionId: string;
  readonly method: RelayAuthMethod;
  readonly username: string;
  /** Whether the password (PLAIN/LOGIN) or the bearer token (XOAUTH2) was valid. */
  readonly credentialsValid: boolean;
  /** Whether the relay answered 235. Differs from `credentialsValid` when TLS was missing or `onAuth` overrode it. */
  readonly success: boolean;
  /** The final reply code (235, 535, 538, or the `onAuth` override). */
  readonly replyCode: number;
  /** Whether TLS was active when the client authenticated. */
  readonly secure: boolean;
}

/** A message the relay received in full. */
export interface ReceivedMessage {
  readonly sessionId: string;
  /** Envelope sender (MAIL FROM), `''` for the null sender. */
  readonly mailFrom: string;
  /** Envelope recipients (RCPT TO) in the order accepted. */
  readonly rcptTo: string[];
  /** The message exactly as received (dot-unstuffed, CRLF line endings). */
  readonly raw: Buffer;
  /** `8bitmime` when MAIL FROM said BODY=8BITMIME, else `7bit` (smtp-server's default). */
  readonly bodyType?: string;
  /** Whether MAIL FROM carried SMTPUTF8. */
  readonly smtpUtf8: boolean;
  /** The authenticated user, if any. */
  readonly user?: string;
  /** The mechanism the user authenticated with, if any. */
  readonly authMethod?: RelayAuthMethod;
  /** Whether TLS was active at AUTH time (`undefined` when the session did not authenticate). */
  readonly secureAtAuth?: boolean;
  /** Whether TLS was active during DATA. */
  readonly secure: boolean;
  /** The reply the relay gave to the DATA (250 for `messages`, 4xx/5xx for `rejectedMessages`). */
  readonly reply: { readonly code: number; readonly message: string };
  readonly receivedAt: Date;
}

/** Session facts handed to the hooks. */
export interface HookSession {
  readonly id: string;
  readonly secure: boolean;
  readonly user?: string;
  readonly mailFrom?: string;
  readonly rcptTo: readonly string[];
}

/** Where `printMessages` writes: a stream (`process.stdout`) or a function taking one line. */
export type LineWriter = { write(chunk: string): unknown } | ((line: string) => void);

/** Options of {@link startSmtpRelay}; every field is optional. */
export interface SmtpRelayOptions {
  /** TLS mode. `starttls`: STARTTLS offered and required before AUTH and MAIL; `implicit`: TLS from
   *  the first byte (port 465 style); `none`: no TLS at all (STARTTLS is not even a known command).
   *  @default 'starttls' */
  tls?: RelayTlsMode;
  /** With `tls: 'starttls'`: whether EHLO lists STARTTLS. `false` simulates a relay that does not
   *  offer STARTTLS (smtp-server's `hideSTARTTLS`; a client that sends it anyway still gets TLS), and
   *  the relay still refuses AUTH and MAIL without TLS.  @default true */
  advertiseStarttls?: boolean;
  /** Which certificate TLS presents: `server` (localhost, 127.0.0.1, ::1) or `wrong-host`
   *  (wrong.example only). Both are signed by `local/certs/ca.pem`.  @default 'server' */
  cert?: 'server' | 'wrong-host';
  /** Mechanisms listed in EHLO. `[]` makes a relay that does not offer AUTH at all (and so accepts
   *  mail without it).  @default ['PLAIN', 'LOGIN'] */
  authMethods?: RelayAuthMethod[];
  /** Accepted users and their passwords (copied; change them later with `setPassword`).  @default {} */
  users?: Record<string, string>;
  /** Validates an XOAUTH2 bearer token. On failure the relay answers the way Gmail and Office 365 do:
   *  `334 <base64 {"status":"401",…}>`, then `535` after the client's empty reply.
   *  @default the token is valid when it equals the user's entry in `users` (so `setPassword` rotates it) */
  xoauth2?: (user: string, token: string) => boolean;
  /** Accept MAIL without AUTH (AUTH is still offered).  @default false */
  authOptional?: boolean;
  /** EHLO extensions to leave out, to simulate a relay without them.  @default none (8BITMIME and SMTPUTF8 are offered) */
  hideExtensions?: ('8BITMIME' | 'SMTPUTF8')[];
  /** SIZE limit advertised in EHLO and enforced (552) on MAIL FROM SIZE= and on DATA.  @default no limit */
  size?: number;
  /** Text after `220 <name> ESMTP` in the greeting.  @default smtp-server's own */
  banner?: string;
  /** Host name in the greeting and EHLO reply.  @default 'localhost' */
  name?: string;
  /** Port to bind on 127.0.0.1.  @default 0 (ephemeral) */
  port?: number;
  /** Idle timeout of a connection in ms (smtp-server `socketTimeout`).  @default 60_000 */
  socketTimeoutMs?: number;
  /** Replace the greeting: return e.g. `{ code: 421 }` to refuse the connection (it is closed after). */
  onConnect?: (session: HookSession) => MaybePromise<HookResult>;
  /** Override the outcome of an AUTH exchange (e.g. `{ code: 454 }` for a temporary failure). 2xx accepts. */
  onAuth?: (attempt: { method: RelayAuthMethod; username: string; credentialsValid: boolean }) => MaybePromise<HookResult>;
  /** Script the MAIL FROM reply. */
  onMailFrom?: (address: string, session: HookSession) => MaybePromise<HookResult>;
  /** Script the RCPT TO reply of one recipient. */
  onRcptTo?: (address: string, session: HookSession) => MaybePromise<HookResult>;
  /** Script the reply after DATA, with the whole message in hand. A 2xx reply's text becomes the 250 text. */
  onData?: (message: Omit<ReceivedMessage, 'reply'>, session: HookSession) => MaybePromise<HookResult>;
  /** Print a one-line summary of each accepted message (for `npm start`).  @default off */
  printMessages?: LineWriter;
}

/** A running relay. All arrays are live and grow as clients talk to it. */
export interface SmtpRelay {
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly tls: RelayTlsMode;
  /** Messages accepted with a 2xx reply, in order. */
  readonly messages: ReceivedMessage[];
  /** Messages received in full but refused (scripted `onData` 4xx/5xx, or over `size`). */
  readonly rejectedMessages: ReceivedMessage[];
  /** One record per SMTP session, in connection order. */
  readonly sessions: SmtpSessionRecord[];
  /** Every AUTH exchange that reached credential checking (not the ones smtp-server refused up
   *  front, e.g. 538 before STARTTLS or 504 for an unknown mechanism: see `commands` for those). */
  readonly authAttempts: AuthAttempt[];
  /** Every command verb of every session, flattened in arrival order. */
  readonly commands: string[];
  /** Errors smtp-server reported (TLS handshakes the client aborted, sockets reset…). */
  readonly errors: Error[];
  /** TCP connections accepted so far. */
  readonly connectionCount: number;
  /** TCP connections open right now. */
  readonly openConnections: number;
  /** Sessions in use right now: connected, and neither said QUIT nor closed (a socket may linger a little after QUIT). */
  readonly openSessions: number;
  /** The most sessions that were ever in use at once. */
  readonly peakSessions: number;
  /** Sets (or adds) a user's password, effective for the next AUTH. */
  setPassword(user: string, password: string): void;
  /** Removes a user. */
  removeUser(user: string): void;
  /** Resolves with `messages` once it holds at least `count` entries; rejects after `timeoutMs` (default 5000). */
  waitForMessages(count: number, timeoutMs?: number): Promise<ReceivedMessage[]>;
  /** Empties every record (messages, sessions, attempts, commands, errors, connection count). */
  clear(): void;
  /** Closes the listener and destroys every open connection; resolves when all is released. */
  stop(): Promise<void>;
}

const DEFAULT_WAIT_MS = 5_000;

interface SessionUser {
  username: string;
  method: RelayAuthMethod;
  secure: boolean;
}

const replyError = (reply: SmtpReply): Error & { responseCode: number } =>
  Object.assign(new Error(reply.message ?? defaultText(reply.code)), { responseCode: reply.code });

function defaultText(code: number): string {
  if (code < 400) return 'Accepted';
  return code < 500 ? 'Temporary failure' : 'Rejected';
}

function checkReply(reply: HookResult, hook: string): SmtpReply | undefined {
  if (!reply) return undefined;
  if (!Number.isInteger(reply.code) || reply.code < 200 || reply.code > 599) {
    throw new RangeError(`${hook} returned an invalid SMTP reply code: ${String(reply.code)}`);
  }
  return reply;
}

function sessionUser(session: SMTPServerSession): SessionUser | undefined {
  const user: unknown = session.user;
  return user && typeof user === 'object' ? (user as SessionUser) : undefined;
}

/** smtp-server's record of MAIL FROM's BODY= and SMTPUTF8 parameters (not in its published types). */
function envelopeFlags(session: SMTPServerSession): { bodyType?: string; smtpUtf8?: boolean } {
  return session.envelope as unknown as { bodyType?: string; smtpUtf8?: boolean };
}

function hookSession(session: SMTPServerSession): HookSession {
  const mailFrom = session.envelope?.mailFrom;
  return {
    id: session.id,
    secure: session.secure,
    user: sessionUser(session)?.username,
    mailFrom: mailFrom ? mailFrom.address : undefined,
    rcptTo: (session.envelope?.rcptTo ?? []).map((r) => r.address),
  };
}

function summary(message: ReceivedMessage): string {
  const head = message.raw.subarray(0, 16_384).toString('utf8');
  const subject = /^subject:[ \t]*(.*(?:\r?\n[ \t].*)*)/im.exec(head.split(/\r?\n\r?\n/)[0] ?? '')?.[1];
  const parts = [
    `[smtp-relay] ${message.reply.code} from=<${message.mailFrom}>`,
    `to=<${message.rcptTo.join('>,<')}>`,
    `user=${message.user ?? '-'}`,
    `auth=${message.authMethod ?? '-'}`,
    `tls=${message.secure ? 'yes' : 'no'}`,
    `bytes=${message.raw.length}`,
  ];
  if (subject !== undefined) parts.push(`subject=${JSON.stringify(subject.replace(/\r?\n[ \t]*/g, ' ').slice(0, 100))}`);
  // Whether the worker signed it (docs/dkim.md): the signing domain and selector, not a verdict.
  const signature = /^dkim-signature:(.*(?:\r?\n[ \t].*)*)/im.exec(head.split(/\r?\n\r?\n/)[0] ?? '')?.[1]?.replace(/\s+/g, '');
  if (signature !== undefined) parts.push(`dkim=${/(?:^|;)d=([^;]+)/.exec(signature)?.[1] ?? '?'}/${/(?:^|;)s=([^;]+)/.exec(signature)?.[1] ?? '?'}`);
  return parts.join(' ');
}

function writeLine(writer: LineWriter, line: string): void {
  if (typeof writer === 'function') writer(line);
  else writer.write(`${line}\n`);
}

/**
 * Starts a local SMTP relay on 127.0.0.1 (ephemeral port by default).
 *
 * @example
 * ```ts
 * const relay = await startSmtpRelay({ users: { alice: 's3cret' } });
 * const transport = nodemailer.createTransport({
 *   host: relay.host, port: relay.port, requireTLS: true,
 *   tls: { ca: testCerts.ca, servername: 'localhost' }, auth: { user: 'alice', pass: 's3cret' },
 * });
 * await transport.sendMail({ from: 'a@example.com', to: 'b@example.net', text: 'hi' });
 * relay.messages[0]?.authMethod; // 'PLAIN'
 * await relay.stop();
 * ```
 */
export async function startSmtpRelay(options: SmtpRelayOptions = {}): Promise<SmtpRelay> {
  const tlsMode = options.tls ?? 'starttls';
  const requireTls = tlsMode !== 'none';
  const authMethods = [...(options.authMethods ?? ['PLAIN', 'LOGIN'])];
  const users = new Map(Object.entries(options.users ?? {}));
  const validToken = options.xoauth2 ?? ((user: string, token: string) => users.get(user) === token);
  const cert = options.cert === 'wrong-host' ? testCerts.wrongHost : testCerts.server;

  const messages: ReceivedMessage[] = [];
  const rejectedMessages: ReceivedMessage[] = [];
  const sessions: SmtpSessionRecord[] = [];
  const sessionsById = new Map<string, SmtpSessionRecord>();
  const authAttempts: AuthAttempt[] = [];
  const commands: string[] = [];
  const errors: Error[] = [];
  const sockets = new Set<Socket>();
  let connectionCount = 0;
  const activeSessions = new Set<string>();
  let peakSessions = 0;
  let waiters: Array<() => void> = [];

  const record = (id: string): SmtpSessionRecord => {
    let session = sessionsById.get(id);
    if (!session) {
      session = { id, commands: [], secure: tlsMode === 'implicit', closed: false };
      sessionsById.set(id, session);
      sessions.push(session);
    }
    return session;
  };

  // smtp-server logs every line it reads with `tnx: 'command'` at the very top of its command
  // dispatcher, before any check can refuse it: the one reliable place to see every verb. AUTH
  // continuation lines are logged as command 'AUTH' with the line '/* secured */' and skipped.
  const logger = {
    debug(entry: { tnx?: string; cid?: string; command?: string }, _message?: string, line?: unknown): void {
      if (entry.tnx !== 'command' || !entry.cid || !entry.command) return;
      if (entry.command === 'AUTH' && line === '/* secured */') return;
      const verb = entry.command.slice(0, 32);
      if (verb === 'QUIT') activeSessions.delete(entry.cid);
      record(entry.cid).commands.push(verb);
      commands.push(verb);
    },
    trace: (): void => undefined,
    info: (): void => undefined,
    warn: (): void => undefined,
    error: (): void => undefined,
    fatal: (): void => undefined,
  };

  const run = async <T>(hook: string, fn: (() => MaybePromise<HookResult>) | undefined, done: (reply: SmtpReply | undefined) => T): Promise<T> => {
    const reply = fn ? checkReply(await fn(), hook) : undefined;
    return done(reply);
  };

  const serverOptions: SMTPServerOptions = {
    name: options.name ?? 'localhost',
    banner: options.banner,
    key: cert.key,
    cert: cert.cert,
    secure: tlsMode === 'implicit',
    hideSTARTTLS: tlsMode === 'starttls' && options.advertiseStarttls === false,
    disabledCommands: [...(tlsMode === 'starttls' ? [] : ['STARTTLS']), ...(authMethods.length === 0 ? ['AUTH'] : [])],
    authMethods: authMethods.length > 0 ? authMethods : undefined,
    authOptional: options.authOptional ?? false,
    // the relay decides itself (onAuth) whether TLS was there, so that hideSTARTTLS cannot open a hole
    allowInsecureAuth: tlsMode === 'none',
    ...Object.fromEntries((options.hideExtensions ?? []).map((extension) => [`hide${extension}`, true])),
    size: options.size,
    rejectOversized: options.size !== undefined,
    disableReverseLookup: true,
    socketTimeout: options.socketTimeoutMs,
    closeTimeout: 1_000,
    logger: logger as unknown as SMTPServerOptions['logger'],

    onConnect(session, callback) {
      activeSessions.add(session.id);
      peakSessions = Math.max(peakSessions, activeSessions.size);
      const rec = record(session.id);
      rec.secure = session.secure;
      run('onConnect', options.onConnect && (() => options.onConnect?.(hookSession(session))), (reply) =>
        callback(reply && reply.code >= 400 ? replyError(reply) : undefined),
      ).catch((err: unknown) => callback(err as Error));
    },

    onSecure(_socket, session, callback) {
      record(session.id).secure = true;
      record(session.id).user = undefined;
      record(session.id).authMethod = undefined;
      callback();
    },

    onAuth(auth, session, callback) {
      const method = auth.method as RelayAuthMethod;
      const username = auth.username ?? '';
      const credentialsValid =
        method === 'XOAUTH2' ? validToken(username, auth.accessToken ?? '') : users.has(username) && users.get(username) === auth.password;
      const secure = session.secure;
      const attempt = (success: boolean, replyCode: number): void => {
        authAttempts.push({ sessionId: session.id, method, username, credentialsValid, success, replyCode, secure });
        if (success) {
          const rec = record(session.id);
          rec.user = username;
          rec.authMethod = method;
        }
      };
      const accept = (): void => {
        attempt(true, 235);
        const user: SessionUser = { username, method, secure };
        callback(null, { user });
      };
      if (requireTls && !secure) {
        attempt(false, 538);
        callback(replyError({ code: 538, message: 'Error: Must issue a STARTTLS command first' }));
        return;
      }
      run('onAuth', options.onAuth && (() => options.onAuth?.({ method, username, credentialsValid })), (reply) => {
        if (reply) {
          if (reply.code < 400) return accept();
          attempt(false, reply.code);
          return callback(replyError(reply));
        }
        if (credentialsValid) return accept();
        if (method === 'XOAUTH2') {
          // smtp-server answers a failed XOAUTH2 with 334 + this JSON, then 535 to the client's
          // empty line: the Gmail / Office 365 dialogue (RFC 7628 section 3.2.2)
          attempt(false, 535);
          return callback(null, { data: { status: '401', schemes: 'bearer', scope: 'https://mail.google.com/' } });
        }
        attempt(false, 535);
        return callback(null, { message: 'Error: Authentication credentials invalid', responseCode: 535 });
      }).catch((err: unknown) => callback(err as Error));
    },

    onMailFrom(address, session, callback) {
      record(session.id).heloName = session.hostNameAppearsAs;
      if (requireTls && !session.secure) {
        callback(replyError({ code: 530, message: 'Error: Must issue a STARTTLS command first' }));
        return;
      }
      run('onMailFrom', options.onMailFrom && (() => options.onMailFrom?.(address.address, hookSession(session))), (reply) =>
        callback(reply && reply.code >= 400 ? replyError(reply) : undefined),
      ).catch((err: unknown) => callback(err as Error));
    },

    onRcptTo(address, session, callback) {
      run('onRcptTo', options.onRcptTo && (() => options.onRcptTo?.(address.address, hookSession(session))), (reply) =>
        callback(reply && reply.code >= 400 ? replyError(reply) : undefined),
      ).catch((err: unknown) => callback(err as Error));
    },

    onData(stream: SMTPServerDataStream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', (err: Error) => errors.push(err));
      stream.on('end', () => {
        const user = sessionUser(session);
        const mailFrom = session.envelope.mailFrom;
        const base: Omit<ReceivedMessage, 'reply'> = {
          sessionId: session.id,
          mailFrom: mailFrom ? mailFrom.address : '',
          rcptTo: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks),
          ...(envelopeFlags(session).bodyType !== undefined && { bodyType: envelopeFlags(session).bodyType }),
          smtpUtf8: envelopeFlags(session).smtpUtf8 === true,
          user: user?.username,
          authMethod: user?.method,
          secureAtAuth: user?.secure,
          secure: session.secure,
          receivedAt: new Date(),
        };
        const finish = (code: number, text: string): void => {
          const message: ReceivedMessage = { ...base, reply: { code, message: text } };
          if (code >= 400) {
            rejectedMessages.push(message);
            return;
          }
          messages.push(message);
          if (options.printMessages) writeLine(options.printMessages, summary(message));
          const pending = waiters;
          waiters = [];
          pending.forEach((wake) => wake());
        };
        if (stream.sizeExceeded) {
          // smtp-server itself answers 552 (rejectOversized) whatever the callback says
          finish(552, `Error: message exceeds fixed maximum message size ${String(options.size)}`);
          callback(null);
          return;
        }
        run('onData', options.onData && (() => options.onData?.(base, hookSession(session))), (reply) => {
          if (reply && reply.code >= 400) {
            finish(reply.code, reply.message ?? defaultText(reply.code));
            return callback(replyError(reply));
          }
          const text = reply?.message ?? 'OK: message queued';
          finish(250, text);
          return callback(null, text);
        }).catch((err: unknown) => callback(err as Error));
      });
    },

    onClose(session) {
      activeSessions.delete(session.id);
      const rec = sessionsById.get(session.id);
      if (rec) rec.closed = true;
    },
  };

  const server = new SMTPServer(serverOptions);
  server.on('error', (err: Error) => errors.push(err));
  server.server.on('connection', (socket: Socket) => {
    connectionCount += 1;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.server.once('error', onError);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.server.off('error', onError);
      resolve();
    });
  });
  const address = server.server.address();
  if (!address || typeof address === 'string') throw new Error('smtp relay: no TCP address');

  let stopping: Promise<void> | undefined;

  return {
    host: '127.0.0.1',
    port: address.port,
    tls: tlsMode,
    messages,
    rejectedMessages,
    sessions,
    authAttempts,
    commands,
    errors,
    get connectionCount() {
      return connectionCount;
    },
    get openConnections() {
      return sockets.size;
    },
    get openSessions() {
      return activeSessions.size;
    },
    get peakSessions() {
      return peakSessions;
    },
    setPassword(user, password) {
      users.set(user, password);
    },
    removeUser(user) {
      users.delete(user);
    },
    waitForMessages(count, timeoutMs = DEFAULT_WAIT_MS) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          if (messages.length < count) return false;
          clearTimeout(timer);
          resolve(messages);
          return true;
        };
        const timer = setTimeout(() => {
          waiters = waiters.filter((w) => w !== wake);
          reject(new Error(`smtp relay: ${messages.length} of ${count} messages after ${timeoutMs} ms`));
        }, timeoutMs);
        const wake = (): void => {
          if (!check()) waiters.push(wake);
        };
        wake();
      });
    },
    clear() {
      messages.length = 0;
      rejectedMessages.length = 0;
      sessions.length = 0;
      sessionsById.clear();
      authAttempts.length = 0;
      commands.length = 0;
      errors.length = 0;
      connectionCount = 0;
    },
    stop() {
      stopping ??= new Promise<void>((resolve) => {
        server.close(() => {
          // every connection is gone now; smtp-server's onClose only runs on a later tick
          sessions.forEach((session) => (session.closed = true));
          resolve();
        });
        // Do not wait for clients to QUIT: destroy the topmost socket of each session (a TLS
        // socket after STARTTLS), then whatever raw socket is left (smtp-server itself destroys
        // the ones still in an implicit TLS handshake).
        for (const connection of server.connections) connection._socket.destroy();
        setImmediate(() => sockets.forEach((socket) => socket.destroy()));
      });
      return stopping;
    },
  };
}
