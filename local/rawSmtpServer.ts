import { createServer, type Server, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { testCerts } from './certs.js';
import { listenOnLoopback } from './loopback.js';

/**
 * A raw-socket SMTP server on 127.0.0.1 for the fault tests: a small, line-by-line SMTP dialogue
 * (EHLO, STARTTLS, AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT; no PIPELINING) whose every
 * phase can be scripted to misbehave in ways smtp-server cannot: never send the greeting, close
 * or reset the socket mid-DATA or after the final "." before the reply, stall past the client's
 * timeout, refuse an advertised STARTTLS with 454, or answer STARTTLS with bytes that are not TLS.
 *
 * TEST-ONLY: it checks nothing a real relay checks beyond what the tests need.
 */

/** Where in the dialogue a script is asked what to do. */
export type RawSmtpPhase =
  /** A client connected; the default is the 220 greeting. */
  | 'connect'
  | 'ehlo'
  | 'starttls'
  | 'auth'
  | 'mail'
  | 'rcpt'
  /** The DATA command; the default is 354. */
  | 'data'
  /** The first bytes of the message content arrived (after 354). Only `close`, `reset` and `silent` apply. */
  | 'data-body'
  /** The final "." arrived; the default is `250 2.0.0 queued`. The message is in `received` either way. */
  | 'data-end'
  | 'rset';

/** What the server does at a phase. `undefined` from the script means: behave normally. */
export type RawSmtpAction =
  /** Answer with this reply; `close` ends the connection right after it (as a 421 does). */
  | { readonly kind: 'reply'; readonly code: number; readonly text?: string; readonly close?: boolean }
  /** Close the connection (FIN) without a reply. */
  | { readonly kind: 'close' }
  /** Reset the connection (TCP RST) without a reply. */
  | { readonly kind: 'reset' }
  /** Never answer, keep the connection open and ignore what follows (a stalled or hung relay). */
  | { readonly kind: 'silent' }
  /** STARTTLS only: answer 220, then send bytes that are not TLS and close (a broken TLS handshake). */
  | { readonly kind: 'not-tls' };

/** Facts handed to the script. */
export interface RawSmtpContext {
  /** 1-based number of the TCP connection since the server started. */
  readonly connection: number;
  /** 1-based number of the transaction (MAIL FROM) on this connection; 0 before the first. */
  readonly transaction: number;
  /** The recipient being asked for (phase `rcpt`). */
  readonly recipient?: string;
  /** Recipients accepted so far in this transaction. */
  readonly accepted: readonly string[];
  readonly secure: boolean;
}

export interface RawSmtpServerOptions {
  /** `starttls`: STARTTLS offered (AUTH only after it); `none`: plain text only.  @default 'starttls' */
  readonly tls?: 'starttls' | 'none';
  /** Users for AUTH PLAIN. Empty: no AUTH is offered and MAIL needs none.  @default {} */
  readonly users?: Record<string, string>;
  /** SIZE advertised in EHLO (not enforced).  @default none */
  readonly size?: number;
  /** Decides what to do at each phase. @default normal behaviour everywhere */
  readonly script?: (phase: RawSmtpPhase, context: RawSmtpContext) => RawSmtpAction | undefined;
}

/** A message whose content arrived in full (the final "." was received). */
export interface RawSmtpMessage {
  readonly connection: number;
  readonly mailFrom: string;
  readonly rcptTo: readonly string[];
  /** Content as received, dot-unstuffed, without the final ".". */
  readonly data: Buffer;
  /** The reply code sent for it, or undefined when none was sent (closed, reset, silent). */
  readonly replyCode: number | undefined;
}

export interface RawSmtpServer {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** Connections accepted so far. */
  readonly connectionCount: number;
  /** Command lines received, in order (`AUTH PLAIN` without its payload), prefixed `#<connection> `. */
  readonly transcript: string[];
  /** Every message whose content arrived in full, whatever was answered. */
  readonly received: RawSmtpMessage[];
  /** The messages answered with 2xx after the final ".": what the relay took responsibility for. */
  readonly accepted: RawSmtpMessage[];
  /** Replace the script (e.g. to heal the fault between two deliveries). */
  setScript(script: RawSmtpServerOptions['script']): void;
  /** Close the listener and destroy every connection. */
  stop(): Promise<void>;
}

const CRLF = '\r\n';
const END_OF_DATA = Buffer.from('\r\n.\r\n');

/**
 * @example
 * const server = await startRawSmtpServer({ script: (phase) => (phase === 'data-end' ? { kind: 'reset' } : undefined) });
 * // ... point a route at 127.0.0.1:server.port ...
 * server.received.length; // 1: the relay got the message but never answered
 * await server.stop();
 */
export async function startRawSmtpServer(options: RawSmtpServerOptions = {}): Promise<RawSmtpServer> {
  const tlsMode = options.tls ?? 'starttls';
  const users = new Map(Object.entries(options.users ?? {}));
  let script = options.script;
  const transcript: string[] = [];
  const received: RawSmtpMessage[] = [];
  const accepted: RawSmtpMessage[] = [];
  const sockets = new Set<Socket>();
  let connectionCount = 0;

  const serve = (plain: Socket): void => {
    const connection = ++connectionCount;
    sockets.add(plain);
    plain.on('close', () => sockets.delete(plain));
    plain.on('error', () => undefined);

    let socket: Socket = plain;
    let secure = false;
    let authenticated = false;
    let transaction = 0;
    let mailFrom: string | undefined;
    let rcptTo: string[] = [];
    let mode: 'command' | 'data' | 'dead' = 'command';
    let buffer = Buffer.alloc(0);
    let sawBody = false;

    const context = (recipient?: string): RawSmtpContext => ({ connection, transaction, recipient, accepted: [...rcptTo], secure });
    const ask = (phase: RawSmtpPhase, recipient?: string): RawSmtpAction | undefined => script?.(phase, context(recipient));
    const write = (line: string): void => {
      if (!socket.destroyed) socket.write(line + CRLF);
    };

    /** Runs a scripted action; returns true when it replaced the normal behaviour. */
    const act = (action: RawSmtpAction | undefined): boolean => {
      if (!action) return false;
      switch (action.kind) {
        case 'reply':
          write(`${action.code} ${action.text ?? (action.code < 400 ? 'OK' : action.code < 500 ? 'Try again later' : 'Rejected')}`);
          if (action.close) {
            mode = 'dead';
            socket.end();
          }
          return true;
        case 'close':
          mode = 'dead';
          socket.destroySoon();
          return true;
        case 'reset':
          // RST on the TCP socket itself, under TLS too: the client sees ECONNRESET, no close_notify.
          mode = 'dead';
          plain.resetAndDestroy();
          if (socket !== plain) socket.destroy();
          return true;
        case 'silent':
          mode = 'dead';
          return true;
        case 'not-tls':
          write('220 2.0.0 Ready to start TLS');
          mode = 'dead';
          socket.write('HTTP/1.1 400 Bad Request\r\n\r\nthis is not TLS\r\n');
          socket.end();
          return true;
      }
    };

    const ehlo = (): void => {
      const lines = ['localhost greets you', '8BITMIME'];
      if (options.size !== undefined) lines.push(`SIZE ${options.size}`);
      if (tlsMode === 'starttls' && !secure) lines.push('STARTTLS');
      if (users.size > 0 && (secure || tlsMode === 'none')) lines.push('AUTH PLAIN');
      lines.push('HELP');
      lines.forEach((line, i) => write(`250${i === lines.length - 1 ? ' ' : '-'}${line}`));
    };

    const upgrade = (): void => {
      write('220 2.0.0 Ready to start TLS');
      plain.removeAllListeners('data');
      buffer = Buffer.alloc(0);
      const secured = new TLSSocket(plain, { isServer: true, key: testCerts.server.key, cert: testCerts.server.cert });
      sockets.add(secured);
      secured.on('close', () => sockets.delete(secured));
      secured.on('error', () => undefined);
      secured.on('secure', () => {
        secure = true;
        authenticated = false;
      });
      secured.on('data', onData);
      socket = secured;
    };

    const endTransaction = (): void => {
      mailFrom = undefined;
      rcptTo = [];
    };

    const command = (line: string): void => {
      const verb = (/^\S+/.exec(line)?.[0] ?? '').toUpperCase();
      transcript.push(`#${connection} ${verb === 'AUTH' ? line.split(' ').slice(0, 2).join(' ') : line}`);
      const arg = line.slice(verb.length).trim();
      const address = (/<([^>]*)>/.exec(arg)?.[1] ?? '').toLowerCase();
      switch (verb) {
        case 'EHLO':
        case 'HELO':
          if (!act(ask('ehlo'))) ehlo();
          return;
        case 'STARTTLS':
          if (tlsMode !== 'starttls' || secure) return write('503 5.5.1 STARTTLS not available');
          if (!act(ask('starttls'))) upgrade();
          return;
        case 'AUTH': {
          if (act(ask('auth'))) return;
          const [, mechanism, payload] = line.split(' ');
          if (mechanism?.toUpperCase() !== 'PLAIN' || !payload) return write('504 5.5.4 Unrecognized authentication type');
          if (tlsMode === 'starttls' && !secure) return write('538 5.7.11 Encryption required');
          const [, user, pass] = Buffer.from(payload, 'base64').toString('utf-8').split('\0');
          if (user !== undefined && users.get(user) === pass) {
            authenticated = true;
            return write('235 2.7.0 Authentication successful');
          }
          return write('535 5.7.8 Authentication credentials invalid');
        }
        case 'MAIL': {
          transaction += 1;
          endTransaction();
          if (act(ask('mail'))) return;
          if (tlsMode === 'starttls' && !secure) return write('530 5.7.0 Must issue a STARTTLS command first');
          if (users.size > 0 && !authenticated) return write('530 5.7.0 Authentication required');
          mailFrom = address;
          return write('250 2.1.0 Sender OK');
        }
        case 'RCPT':
          if (mailFrom === undefined) return write('503 5.5.1 MAIL first');
          if (act(ask('rcpt', address))) return;
          rcptTo.push(address);
          return write('250 2.1.5 Recipient OK');
        case 'DATA':
          if (mailFrom === undefined || rcptTo.length === 0) return write('503 5.5.1 RCPT first');
          if (act(ask('data'))) return;
          mode = 'data';
          sawBody = false;
          return write('354 End data with <CR><LF>.<CR><LF>');
        case 'RSET':
          endTransaction();
          if (!act(ask('rset'))) write('250 2.0.0 OK');
          return;
        case 'NOOP':
          return write('250 2.0.0 OK');
        case 'QUIT':
          write('221 2.0.0 Bye');
          mode = 'dead';
          socket.end();
          return;
        default:
          return write('502 5.5.2 Command not recognized');
      }
    };

    // A function, not a comparison: command() changes `mode` behind the type checker's back.
    const dead = (): boolean => mode === 'dead';
    const onData = (chunk: Buffer): void => {
      if (dead()) return;
      buffer = Buffer.concat([buffer, chunk]);
      while (buffer.length > 0 && !dead()) {
        if (mode === 'data') {
          if (!sawBody) {
            sawBody = true;
            if (act(ask('data-body'))) return;
          }
          // "\r\n.\r\n" ends the content; a message that is only "." is not a case nodemailer sends.
          const end = buffer.indexOf(END_OF_DATA);
          if (end < 0) return;
          const content = buffer.subarray(0, end + 2);
          buffer = buffer.subarray(end + END_OF_DATA.length);
          mode = 'command';
          finishMessage(Buffer.from(content.toString('binary').replace(/^\.\./gm, '.'), 'binary'));
          continue;
        }
        const eol = buffer.indexOf('\n');
        if (eol < 0) return;
        const line = buffer.subarray(0, eol).toString('utf-8').replace(/\r$/, '');
        buffer = buffer.subarray(eol + 1);
        const before = socket;
        command(line);
        // After STARTTLS the rest belongs to the TLS socket (the client sends nothing before the handshake).
        if (socket !== before) return;
      }
    };

    const finishMessage = (data: Buffer): void => {
      const action = ask('data-end');
      const code = action?.kind === 'reply' ? action.code : action ? undefined : 250;
      const message: RawSmtpMessage = { connection, mailFrom: mailFrom ?? '', rcptTo: [...rcptTo], data, replyCode: code };
      received.push(message);
      if (code !== undefined && code < 300) accepted.push(message);
      endTransaction();
      if (!act(action)) write(`250 2.0.0 queued as raw-${received.length}`);
    };

    plain.on('data', onData);
    if (!act(ask('connect'))) write('220 localhost ESMTP raw test relay');
  };

  const server: Server = createServer(serve);
  const address = await listenOnLoopback(server);
  let stopping: Promise<void> | undefined;

  return {
    host: '127.0.0.1',
    port: address.port,
    get connectionCount() {
      return connectionCount;
    },
    transcript,
    received,
    accepted,
    setScript(next) {
      script = next;
    },
    stop() {
      stopping ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return stopping;
    },
  };
}
