/**
 * The header section of a raw RFC 5322 message, read line by line. Only what decides routing
 * (From / To / Cc / Bcc / Message-ID) is interpreted; every line is still checked for shape,
 * because a line one reader takes for a field and another for the body is how headers get
 * smuggled past a relay.
 */
import { unsafeCharacter } from '../validation.js';
import { MAX_LINE_OCTETS } from './constants.js';

export interface RawHeaderField {
  readonly name: string;
  /** The field's physical lines (first line and folded continuations), without CRLF. */
  readonly lines: readonly string[];
  /** The unfolded value after the colon (RFC 5322 §2.2.3: unfolding removes only the CRLFs). */
  readonly value: string;
}

export interface RawMessageParts {
  readonly fields: readonly RawHeaderField[];
  /** Physical lines in the header section (so the body's first line is line `lineCount + 2`). */
  readonly lineCount: number;
  /** Everything after the blank line that ends the header section. */
  readonly body: string;
}

export type RawPartsResult = { readonly ok: true; readonly parts: RawMessageParts } | { readonly ok: false; readonly reasons: readonly string[] };

/**
 * Every line break (CRLF, bare LF, bare CR) as CRLF. Bare CR is normalised too: once the
 * message has one kind of line end, `\n.\n`-style sequences are ordinary lines that SMTP
 * dot-stuffing escapes, and no reader disagrees on where a line, the header or DATA ends.
 */
export function normaliseLineEndings(text: string): string {
  return text.replace(/\r\n|\r|\n/g, '\r\n');
}

const FIELD_START = /^([\x21-\x39\x3B-\x7E]+):/;

/** Split a CRLF-normalised message into header fields and body, or say what is wrong with it. */
export function splitRawMessage(message: string): RawPartsResult {
  let headerSection: string;
  let body: string;
  if (message.startsWith('\r\n')) {
    headerSection = '';
    body = message.slice(2);
  } else {
    const separator = message.indexOf('\r\n\r\n');
    if (separator < 0) return { ok: false, reasons: ['has no blank line between the header fields and the body'] };
    headerSection = message.slice(0, separator);
    body = message.slice(separator + 4);
  }

  const reasons: string[] = [];
  const fields: { name: string; lines: string[] }[] = [];
  const lines = headerSection === '' ? [] : headerSection.split('\r\n');
  lines.forEach((line, index) => {
    const where = `header line ${index + 1}`;
    if (Buffer.byteLength(line) > MAX_LINE_OCTETS) reasons.push(`${where} is longer than ${MAX_LINE_OCTETS} octets`);
    const unsafe = unsafeCharacter(line);
    if (unsafe) reasons.push(`${where} contains ${unsafe}`);
    if (line.startsWith(' ') || line.startsWith('\t')) {
      const current = fields.at(-1);
      if (line.trim() === '') reasons.push(`${where} holds only whitespace (some readers take it for the end of the header)`);
      else if (current === undefined) reasons.push(`${where} starts with whitespace but continues no field`);
      else current.lines.push(line);
      return;
    }
    const start = FIELD_START.exec(line);
    if (!start) {
      reasons.push(`${where} is not a header field ("Name: value")`);
      return;
    }
    fields.push({ name: start[1] ?? '', lines: [line] });
  });
  if (reasons.length > 0) return { ok: false, reasons };
  return {
    ok: true,
    parts: {
      fields: fields.map(({ name, lines: fieldLines }) => ({ name, lines: fieldLines, value: fieldLines.join('').slice(name.length + 1) })),
      lineCount: lines.length,
      body,
    },
  };
}
