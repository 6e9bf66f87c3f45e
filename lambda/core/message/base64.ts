/**
 * Strict base64 (RFC 4648 §4) for attachment content: the standard alphabet, padding required,
 * line breaks (CRLF or LF) allowed between characters, nothing else. Node's own decoder skips
 * what it does not understand, so a truncated or mangled attachment would be sent silently.
 */

export type Base64Result = { readonly ok: true; readonly bytes: Buffer } | { readonly ok: false; readonly reason: string };

const FOREIGN_CHARACTER = /[^A-Za-z0-9+/=\r\n]|\r(?!\n)/;

/**
 * Decode strict base64, or say why it is not.
 * @example
 * decodeStrictBase64('aGVs\r\nbG8='); // { ok: true, bytes: <Buffer 68 65 6c 6c 6f> }
 * decodeStrictBase64('aGVsbG8');     // { ok: false, reason: 'must be padded base64: ...' }
 */
export function decodeStrictBase64(text: string): Base64Result {
  const foreign = FOREIGN_CHARACTER.exec(text);
  if (foreign) {
    return { ok: false, reason: `must be base64 (A-Z, a-z, 0-9, +, / and = padding; line breaks allowed): found ${describe(foreign[0])} at offset ${foreign.index}` };
  }
  const compact = text.replace(/\r?\n/g, '');
  if (compact.length % 4 !== 0) {
    return { ok: false, reason: 'must be padded base64: without line breaks its length must be a multiple of 4' };
  }
  // Only the alphabet and "=" are left: "=" may be the last character, or the last two. (Checked
  // by index, not by a regex over the whole text, which overflows V8's stack above ~4 MiB.)
  const firstPad = compact.indexOf('=');
  if (firstPad !== -1 && (firstPad < compact.length - 2 || !compact.endsWith('='))) return { ok: false, reason: 'must be base64 with "=" only as padding at the end' };
  const bytes = Buffer.from(compact, 'base64');
  const padding = compact.endsWith('==') ? 2 : compact.endsWith('=') ? 1 : 0;
  if (bytes.length !== (compact.length / 4) * 3 - padding) return { ok: false, reason: 'is not valid base64' };
  // Non-zero bits after the last byte mean the data was not produced by a base64 encoder.
  if (bytes.toString('base64') !== compact) return { ok: false, reason: 'is not canonical base64 (the unused bits before the padding must be zero)' };
  return { ok: true, bytes };
}

function describe(character: string): string {
  if (character === ' ') return 'a space';
  if (character === '\t') return 'a TAB';
  if (character === '\r') return 'a CR without LF';
  if (character === '-' || character === '_') return `"${character}" (URL-safe base64 is not accepted)`;
  const code = character.codePointAt(0) ?? 0;
  if (code < 0x20 || code === 0x7f || code > 0x7e) return `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
  return `"${character}"`;
}
