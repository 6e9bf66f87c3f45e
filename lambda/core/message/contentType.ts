/**
 * An attachment's `contentType` (docs/design.md §1.1): `type/subtype` with optional RFC 2045
 * parameters (`text/csv; charset=utf-8`, `text/calendar; method=REQUEST`), read strictly and
 * written back in one normal form, so that the header nodemailer builds from it says exactly what
 * the producer meant and nothing more.
 */
import { unsafeCharacter } from '../validation.js';

/** The longest `contentType`, parameters included. */
export const MAX_CONTENT_TYPE_CHARS = 255;
/** More parameters than any real media type uses: a bound, not a style rule. */
export const MAX_CONTENT_TYPE_PARAMETERS = 8;

/** iTIP methods (RFC 5546 §1.4): what a calendar invite's `method` parameter may say. */
export const CALENDAR_METHODS = ['PUBLISH', 'REQUEST', 'REPLY', 'ADD', 'CANCEL', 'REFRESH', 'COUNTER', 'DECLINECOUNTER'] as const;

export interface ContentType {
  /** `type/subtype`, lower-case (media types are case-insensitive, RFC 2045 §5.1). */
  readonly mediaType: string;
  /** Parameter names lower-case, values as given (the calendar `method` upper-case). */
  readonly parameters: Readonly<Record<string, string>>;
  /** The normal form: `text/csv; charset=utf-8`, values quoted where RFC 2045 needs it. */
  readonly value: string;
}

export type ContentTypeResult = { readonly ok: true; readonly contentType: ContentType } | { readonly ok: false; readonly reasons: readonly string[] };

/** RFC 2045 token characters: printable ASCII but space and tspecials `()<>@,;:\"/[]?=`. */
const TOKEN = "[!#$%&'*+\\-.^_`{|}~0-9A-Za-z]+";
const TOKEN_ONLY = new RegExp(`^${TOKEN}$`);
const MEDIA_TYPE = new RegExp(`^(${TOKEN})/(${TOKEN})`);
/** `; name=` then a token or a quoted string (qtext, space, TAB, quoted pairs). */
const PARAMETER = new RegExp(`^;[ \\t]*(${TOKEN})[ \\t]*=[ \\t]*(?:(${TOKEN})|"((?:[\\t \\x21\\x23-\\x5B\\x5D-\\x7E]|\\\\[\\t \\x21-\\x7E])*)")[ \\t]*`);

/**
 * Parse and normalise a content type, or say everything that is wrong with it.
 * @example
 * parseContentType('Text/CSV;charset="utf-8"'); // ok: value 'text/csv; charset=utf-8'
 * parseContentType('text/csv; charset=utf-8\r\nX: y'); // reasons: ['must not contain CR']
 */
export function parseContentType(input: string): ContentTypeResult {
  const fail = (reason: string): ContentTypeResult => ({ ok: false, reasons: [reason] });
  if (input.length === 0) return fail('must not be empty');
  if (input.length > MAX_CONTENT_TYPE_CHARS) return fail(`must be at most ${MAX_CONTENT_TYPE_CHARS} characters`);
  const unsafe = unsafeCharacter(input);
  if (unsafe) return fail(`must not contain ${unsafe}`);
  if (/[^\x00-\x7F]/.test(input)) return fail('must be ASCII: a parameter value with other characters needs RFC 2231 encoding, which is not supported');

  const text = input.trim();
  const head = MEDIA_TYPE.exec(text);
  if (!head) return fail('must start with type/subtype (like application/pdf or text/csv; charset=utf-8)');
  const mediaType = `${head[1] ?? ''}/${head[2] ?? ''}`.toLowerCase();
  if (mediaType.startsWith('multipart/')) return fail('must not be multipart/*: the worker builds the MIME structure');

  const reasons: string[] = [];
  const parameters: Record<string, string> = Object.create(null) as Record<string, string>;
  let rest = text.slice(head[0].length).replace(/^[ \t]+/, '');
  while (rest !== '') {
    const match = PARAMETER.exec(rest);
    if (!match) {
      reasons.push(
        rest.startsWith(';')
          ? `has a malformed parameter at "${excerpt(rest)}": write ; name=value, and quote a value holding spaces or any of ()<>@,;:\\"/[]?=`
          : `has "${excerpt(rest)}" where a parameter should start with ";" (quote a value that holds spaces)`,
      );
      break;
    }
    rest = rest.slice(match[0].length);
    const name = (match[1] ?? '').toLowerCase();
    const value = match[2] ?? (match[3] ?? '').replace(/\\(.)/g, '$1');
    if (name.includes('*')) reasons.push(`parameter ${name}: RFC 2231 extended parameters (name*=) are not supported`);
    else if (name === 'name') reasons.push('parameter name: the file name comes from filename; leave the name parameter out');
    else if (Object.hasOwn(parameters, name)) reasons.push(`parameter ${name} is given more than once`);
    else parameters[name] = value;
  }
  if (Object.keys(parameters).length > MAX_CONTENT_TYPE_PARAMETERS) reasons.push(`must have at most ${MAX_CONTENT_TYPE_PARAMETERS} parameters`);

  if (mediaType === 'text/calendar' && parameters.method !== undefined) {
    const method = parameters.method.toUpperCase();
    if ((CALENDAR_METHODS as readonly string[]).includes(method)) parameters.method = method;
    else reasons.push(`parameter method must be an iTIP method (${CALENDAR_METHODS.join(', ')})`);
    if (parameters.charset !== undefined && !/^utf-?8$/i.test(parameters.charset)) {
      reasons.push('parameter charset must be utf-8 for a calendar invite (its alternative body part is sent as UTF-8)');
    }
  }
  if (reasons.length > 0) return { ok: false, reasons };
  const value = [mediaType, ...Object.entries(parameters).map(([name, v]) => `${name}=${quoteIfNeeded(v)}`)].join('; ');
  return { ok: true, contentType: { mediaType, parameters, value } };
}

/** A token stays as it is; anything else becomes a quoted string (RFC 2045 §5.1). */
function quoteIfNeeded(value: string): string {
  return TOKEN_ONLY.test(value) ? value : `"${value.replace(/["\\]/g, '\\$&')}"`;
}

function excerpt(text: string): string {
  return text.length > 20 ? `${text.slice(0, 20)}…` : text;
}
