/**
 * Human-readable worker log lines for `npm start` and `mailrelay worker --pretty`. The worker logs
 * structured JSON (Powertools Logger), which is what CloudWatch wants and what a person at a
 * terminal does not: this turns each record into one short line.
 */

/** One Powertools log record as printed (`level`, `message`, `timestamp`, extra keys). */
export type LogRecord = Readonly<Record<string, unknown>>;

export interface FormatOptions {
  /** The command that lists the DLQ, named after a dead-lettered line.  @default 'mailrelay dlq list' */
  readonly dlqCommand?: string;
}

const text = (value: unknown): string | undefined => (value === undefined || value === null || value === '' ? undefined : String(value));

/**
 * One line for a worker log record, or `undefined` to leave it out (debug noise).
 * @example
 * formatWorkerRecord({ level: 'INFO', message: 'relayed', recipient: 'bob@example.net', route: '127.0.0.1:2525 starttls PLAIN user=demo', smtpReply: '250 OK' });
 * // '[worker] relayed   bob@example.net via 127.0.0.1:2525 starttls PLAIN user=demo: 250 OK'
 */
export function formatWorkerRecord(record: LogRecord, options: FormatOptions = {}): string | undefined {
  const level = String(record['level'] ?? 'INFO').toUpperCase();
  const message = String(record['message'] ?? '');
  const recipient = text(record['recipient']);
  const route = text(record['route']);
  const reply = text(record['smtpReply']) ?? (record['smtpCode'] !== undefined ? String(record['smtpCode']) : undefined);
  const reason = text(record['reason']);
  const detail = text(record['detail']);

  switch (message) {
    case 'relayed':
      return `[worker] relayed   ${recipient ?? '?'}${route ? ` via ${route}` : ''}${reply ? `: ${reply}` : ''}`;
    case 'deferred':
    case 'rejected':
      return `[worker] ${message.padEnd(9)} ${recipient ?? '?'}${route ? ` via ${route}` : ''}: ${reason ?? ''}${reply ? ` (${reply})` : ''}${detail && !reply ? ` - ${detail}` : ''}${message === 'deferred' ? ', will retry' : ''}`;
    case 'dead-lettered':
      return `[worker] dead-lettered message ${text(record['sqsMessageId']) ?? '?'} (${reason ?? 'unknown'}): ${detail ?? ''}  → see \`${options.dlqCommand ?? 'mailrelay dlq list'}\``;
    case 'message rejected':
      // the dead-lettered line that follows says it all
      return undefined;
    case 'duplicate: already delivered':
      return `[worker] duplicate ${text(record['idempotencyKey']) ?? ''}: already delivered, not sent again`;
    default:
      break;
  }
  if (level === 'DEBUG' || level === 'TRACE') return undefined;
  const skip = new Set(['level', 'message', 'timestamp', 'service', 'sampling_rate', 'xray_trace_id', 'cold_start', 'function_arn', 'function_memory_size', 'function_name', 'function_request_id']);
  const extra = Object.entries(record)
    .filter(([key, value]) => !skip.has(key) && value !== undefined)
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(' ');
  return `[worker] ${level === 'INFO' ? '' : `${level} `}${message}${extra ? ` ${extra}` : ''}`;
}

/** The part of a Powertools Logger this module touches: its private `console` (pinned Powertools 2.35). */
interface LoggerInternals {
  console?: unknown;
}

/**
 * Route a Powertools Logger's output through {@link formatWorkerRecord}. Works on the Logger's
 * `console` (an internal field of Powertools 2.x): when that field is missing, the logger keeps
 * printing JSON and this returns false.
 * @param write where each formatted line goes.  @default console.log
 * @returns whether the logger is now formatted; call `restore` to undo.
 */
export function formatLoggerOutput(
  logger: object,
  write: (line: string) => void = (line) => console.log(line),
  options: FormatOptions = {},
): { formatted: boolean; restore(): void } {
  const internals = logger as LoggerInternals;
  const original = internals.console;
  if (!original || typeof original !== 'object') return { formatted: false, restore: () => undefined };
  const print = (json: unknown): void => {
    let record: LogRecord | undefined;
    try {
      const parsed: unknown = JSON.parse(String(json));
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) record = parsed as LogRecord;
    } catch {
      record = undefined;
    }
    const line = record ? formatWorkerRecord(record, options) : String(json);
    if (line !== undefined) write(line);
  };
  internals.console = { trace: print, debug: print, info: print, log: print, warn: print, error: print };
  return {
    formatted: true,
    restore: () => {
      internals.console = original;
    },
  };
}
