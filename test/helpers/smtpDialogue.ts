/**
 * A raw SMTP client for dialogue tests: exact bytes out, whole replies (multi-line joined) in, and
 * STARTTLS on the same socket. Used where nodemailer would be too polite (bare LF, AUTH before TLS,
 * hand-built SASL tokens).
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { testCerts } from '../../local/certs.js';

export interface SmtpReplyLine {
  readonly code: number;
  /** Every line of the reply, codes stripped, joined with \n. */
  readonly text: string;
}

/** How long one reply may take before the dialogue fails (bounds a broken test, asserts nothing). */
const REPLY_TIMEOUT_MS = 10_000;

export class SmtpDialogue {
  private buffer = '';
  private waiter: (() => void) | undefined;
  private closed = false;

  private constructor(private socket: Socket | TLSSocket) {
    this.attach(socket);
  }

  /** Connects (implicit TLS with `tls: true`) and reads the greeting. */
  public static async open(port: number, options: { tls?: boolean } = {}): Promise<{ dialogue: SmtpDialogue; greeting: SmtpReplyLine }> {
    const socket = await new Promise<Socket | TLSSocket>((resolve, reject) => {
      const s = options.tls
        ? tlsConnect({ host: '127.0.0.1', port, ca: testCerts.ca, servername: 'localhost' }, () => resolve(s))
        : netConnect({ host: '127.0.0.1', port }, () => resolve(s));
      s.once('error', reject);
    });
    const dialogue = new SmtpDialogue(socket);
    return { dialogue, greeting: await dialogue.reply() };
  }

  /** Sends one command line (CRLF added) and reads the reply. */
  public async command(line: string): Promise<SmtpReplyLine> {
    this.socket.write(`${line}\r\n`);
    return this.reply();
  }

  /** Sends bytes exactly as given (DATA content) and reads the reply. */
  public async sendRaw(bytes: string | Buffer): Promise<SmtpReplyLine> {
    this.socket.write(bytes);
    return this.reply();
  }

  /** STARTTLS, then the TLS handshake on the same socket, trusting the test CA. */
  public async startTls(): Promise<SmtpReplyLine> {
    const answer = await this.command('STARTTLS');
    if (answer.code !== 220) return answer;
    this.socket.removeAllListeners('data');
    const secure = await new Promise<TLSSocket>((resolve, reject) => {
      const s = tlsConnect({ socket: this.socket, ca: testCerts.ca, servername: 'localhost' }, () => resolve(s));
      s.once('error', reject);
    });
    this.socket = secure;
    this.attach(secure);
    return answer;
  }

  public get isClosed(): boolean {
    return this.closed;
  }

  public close(): void {
    this.socket.destroy();
  }

  /** Reads one whole reply (through the line `ddd ` that ends it). */
  public async reply(): Promise<SmtpReplyLine> {
    const deadline = Date.now() + REPLY_TIMEOUT_MS;
    for (;;) {
      const parsed = this.takeReply();
      if (parsed) return parsed;
      if (this.closed) throw new Error(`connection closed; unread: ${JSON.stringify(this.buffer)}`);
      if (Date.now() > deadline) throw new Error(`no reply within ${REPLY_TIMEOUT_MS} ms; unread: ${JSON.stringify(this.buffer)}`);
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
        setTimeout(resolve, 200);
      });
    }
  }

  private takeReply(): SmtpReplyLine | undefined {
    const lines: string[] = [];
    let offset = 0;
    for (;;) {
      const end = this.buffer.indexOf('\r\n', offset);
      if (end < 0) return undefined;
      const line = this.buffer.slice(offset, end);
      offset = end + 2;
      lines.push(line.slice(4));
      if (line[3] !== '-') {
        this.buffer = this.buffer.slice(offset);
        return { code: Number(line.slice(0, 3)), text: lines.join('\n') };
      }
    }
  }

  private attach(socket: Socket | TLSSocket): void {
    socket.on('data', (chunk: Buffer) => {
      this.buffer += chunk.toString('utf8');
      this.waiter?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
    socket.on('error', () => undefined);
  }
}

/** base64 of an AUTH PLAIN token: authzid NUL authcid NUL password (RFC 4616). */
export const plainToken = (authzid: string, authcid: string, password: string): string => Buffer.from(`${authzid}\0${authcid}\0${password}`).toString('base64');
export const b64 = (text: string): string => Buffer.from(text).toString('base64');
