/**
 * The SMTP dialogue of `mailrelay check`, recorded from nodemailer's own transaction log, which
 * the worker's SmtpSession.open hands to its `transcript` option (so the check enforces exactly
 * what the worker does: TLS before credentials, the configured mechanism only).
 *
 * Secrets never reach the transcript: nodemailer already logs `/* secret *\/` in place of passwords
 * and tokens; on top of that the AUTH lines are rewritten to name the mechanism and user only, and
 * any line still holding a known secret (or its base64) is masked.
 */
import { format } from 'node:util';
import SMTPConnection from 'nodemailer/lib/smtp-connection';

export interface TranscriptLine {
  /** `C` client → relay, `S` relay → client, `*` a note (connection, TLS). */
  readonly dir: 'C' | 'S' | '*';
  readonly text: string;
}

export interface Recording {
  readonly lines: TranscriptLine[];
}

/** A bunyan-style logger that appends nodemailer's transaction log to `recording`. */
export function transcriptLogger(recording: Recording): SMTPConnection['logger'] {
  const log =
    (level: string) =>
    (...args: unknown[]): void => {
      const entry = (typeof args[0] === 'object' && args[0] !== null ? args.shift() : {}) as { tnx?: string };
      const [message, ...rest] = args;
      const text = format(String(message ?? ''), ...rest);
      if (entry.tnx === 'client') recording.lines.push({ dir: 'C', text });
      else if (entry.tnx === 'server') for (const line of text.split(/\r?\n/)) recording.lines.push({ dir: 'S', text: line });
      else if (level !== 'debug' && level !== 'trace') recording.lines.push({ dir: '*', text });
    };
  return { trace: log('trace'), debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error'), fatal: log('fatal') };
}

/**
 * The transcript as printable lines (`C: EHLO acme.example`), AUTH payloads reduced to
 * mechanism and user, and every `secrets` value (and its base64) masked.
 */
export function renderTranscript(lines: readonly TranscriptLine[], secrets: readonly string[]): TranscriptLine[] {
  const masks = secrets.filter((s) => s.length >= 3).flatMap((s) => [s, Buffer.from(s, 'utf8').toString('base64')]);
  const scrub = (text: string): string => masks.reduce((t, secret) => t.split(secret).join('***'), text);
  let login: 'user' | 'pass' | undefined;
  let plainPending = false;
  const out: TranscriptLine[] = [];
  for (const line of lines) {
    let text = line.text;
    if (line.dir === 'C') {
      let m: RegExpExecArray | null;
      if (login === 'user') {
        text = `${text}   (username "${decode(text)}")`;
        login = 'pass';
      } else if (login === 'pass') {
        text = '<password, hidden>';
        login = undefined;
      } else if (plainPending) {
        text = `<${plainSummary(text)}>`;
        plainPending = false;
      } else if ((m = /^AUTH PLAIN(?: (\S+))?$/i.exec(text))) {
        if (m[1]) text = `AUTH PLAIN <${plainSummary(m[1])}>`;
        else plainPending = true;
      } else if (/^AUTH LOGIN$/i.test(text)) {
        login = 'user';
      } else if ((m = /^AUTH LOGIN (\S+)$/i.exec(text))) {
        text = `AUTH LOGIN ${m[1]}   (username "${decode(m[1]!)}")`;
        login = 'pass';
      } else if ((m = /^AUTH XOAUTH2 (\S+)$/i.exec(text))) {
        const user = /user=([^\x01]*)/.exec(decode(m[1]!))?.[1] ?? '?';
        text = `AUTH XOAUTH2 <user "${user}", bearer token hidden>`;
      } else if (text === '') {
        text = '(empty line)';
      }
    } else if (line.dir === 'S') {
      const m = /^334 (\S+)$/.exec(text);
      const decoded = m ? decode(m[1]!) : '';
      if (m && /^[\x20-\x7e]+$/.test(decoded)) text = `${text}   (${decoded})`;
    }
    out.push({ dir: line.dir, text: scrub(text) });
  }
  return out;
}

function decode(base64: string): string {
  return Buffer.from(base64, 'base64').toString('utf8');
}

/** `\0user\0password` → `user "demo", password hidden`. */
function plainSummary(base64: string): string {
  const parts = decode(base64).split('\u0000');
  return `user "${parts[1] ?? '?'}", password hidden`;
}
