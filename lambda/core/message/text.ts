/**
 * Character rules of docs/design.md §1.1 as zod building blocks, and the checks that apply to the
 * whole JSON tree (nesting depth, well-formed Unicode, reserved names).
 */
import * as z from 'zod/mini';
import type { FieldIssue } from '../errors.js';
import { formatPath, UNSAFE_HEADER_CHARS, unsafeCharacter } from '../validation.js';
import { MAX_JSON_DEPTH } from './constants.js';

/**
 * A string that may reach a header or a log line: none of the characters
 * {@link unsafeCharacter} reports (CR, LF, NUL, other C0 but TAB, DEL, U+0085, U+2028, U+2029).
 * @param options.max - longest value, in UTF-16 code units.
 * @param options.allowEmpty - whether `""` is accepted. @default false
 */
export function headerSafeString(options: { readonly max: number; readonly allowEmpty?: boolean }) {
  const { max, allowEmpty = false } = options;
  return stringField().check(
    z.superRefine((value, ctx) => {
      for (const problem of headerSafeProblems(value, max, allowEmpty)) ctx.addIssue({ code: 'custom', message: problem });
    }),
  );
}

/** A string field, with "is required" when it is missing and "must be a string" otherwise. */
export function stringField() {
  return z.string({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be a string') });
}

/** The reasons a value is not header-safe, for checks inside larger transforms (map entries, file names). */
export function headerSafeProblems(value: string, max: number, allowEmpty = false): string[] {
  const problems: string[] = [];
  if (!allowEmpty && value.length === 0) problems.push('must not be empty');
  if (value.length > max) problems.push(`must be at most ${max} characters`);
  const bad = unsafeCharacter(value);
  if (bad) problems.push(`must not contain ${bad}`);
  return problems;
}

/** A body string (text, html, raw): any text, but never NUL, which no relay passes on intact. */
export function nulFreeString() {
  return stringField().check(z.refine((value) => !value.includes('\0'), 'must not contain NUL'));
}

/**
 * "Printable", as the idempotency key needs it: no control character at all (C0 including TAB,
 * DEL, C1 U+0080–U+009F) and no line or paragraph separator. Spaces and any other Unicode are
 * printable. Stricter than header safety because the key is also a storage key and a log field.
 */
const NON_PRINTABLE = /[\p{Cc}\u2028\u2029]/u;

/** A description of the first non-printable character, or undefined when all are printable. */
export function nonPrintableCharacter(value: string): string | undefined {
  const match = NON_PRINTABLE.exec(value);
  if (!match) return undefined;
  return unsafeCharacter(match[0]) ?? describeCodePoint(match[0]);
}

function describeCodePoint(character: string): string {
  const code = character.codePointAt(0) ?? 0;
  if (code === 9) return 'TAB';
  return `control character U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** Number of Unicode code points, the unit in which the contract counts "characters". */
export function codePointLength(value: string): number {
  let count = 0;
  for (const _ of value) count++;
  return count;
}

/** A lone surrogate cannot be encoded as UTF-8: the body is then not really UTF-8 JSON. */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Problems anywhere in the parsed body that no field schema sees: nesting deeper than any valid
 * message (checked first, because later walks recurse), strings and names that are not
 * well-formed Unicode (`"\ud800"` is valid JSON but not UTF-8), and the name `__proto__`, which
 * plain-object copies would turn into a prototype instead of a field.
 */
export function jsonTreeIssues(root: unknown): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const stack: { value: unknown; path: PropertyKey[] }[] = [{ value: root, path: [] }];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const { value, path } = next;
    if (path.length > MAX_JSON_DEPTH) return [{ path: '$', message: `must not nest deeper than ${MAX_JSON_DEPTH} levels` }];
    const name = path.at(-1);
    if (name === '__proto__') issues.push({ path: formatPath(path), message: 'is a reserved name' });
    else if (typeof name === 'string' && LONE_SURROGATE.test(name)) {
      issues.push({ path: formatPath(path), message: 'name must be well-formed Unicode (holds a lone surrogate)' });
    }
    if (typeof value === 'string') {
      if (LONE_SURROGATE.test(value)) issues.push({ path: formatPath(path), message: 'must be well-formed Unicode (holds a lone surrogate)' });
      continue;
    }
    const children: [PropertyKey, unknown][] = Array.isArray(value)
      ? value.map((element, index) => [index, element])
      : value !== null && typeof value === 'object'
        ? Object.entries(value)
        : [];
    // Pushed last-first so that they pop, and are reported, in document order.
    for (let index = children.length - 1; index >= 0; index--) {
      const [key, child] = children[index] as [PropertyKey, unknown];
      stack.push({ value: child, path: [...path, key] });
    }
  }
  return issues;
}

const UNSAFE_IN_PATH = new RegExp(`${UNSAFE_HEADER_CHARS.source}|\\p{Cs}`, 'gu');

/**
 * A field path fit for a log line. Paths hold the names producers chose (`headers.<name>`,
 * `tags.<name>`, unknown fields), so a name with a line break would otherwise forge log lines;
 * such characters are written as `\u{A}` escapes.
 */
export function logSafePath(path: string): string {
  return path.replace(UNSAFE_IN_PATH, (character) => `\\u{${(character.codePointAt(0) ?? 0).toString(16).toUpperCase()}}`);
}
