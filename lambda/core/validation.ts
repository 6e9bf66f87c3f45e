/**
 * Helpers shared by the message and config schemas: field paths in the form users read
 * (`to[1]`, `headers.X-Foo`, `relay.port`, `$`), and the character rules of docs/design.md §1.1.
 */
import type * as z from 'zod/mini';
import type { FieldIssue } from './errors.js';
import './zodLocale.js';

/**
 * A schema built on its first use, then kept: the schema of a field only some messages have (an
 * attachment, a List-Unsubscribe) costs a cold start nothing until a message has the field.
 * The schema is the same one an eager `const` would hold, so results and messages are too.
 */
export function builtOnFirstUse<T>(build: () => T): () => T {
  let built: T | undefined;
  return () => (built ??= build());
}

/** `['to', 1]` → `to[1]`; `['headers', 'X-Foo']` → `headers.X-Foo`; `[]` → `$`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out === '' ? '$' : out;
}

/** Zod issues as {@link FieldIssue}s; an unknown key is reported at its own path. */
export function toFieldIssues(error: z.core.$ZodError, prefix: readonly PropertyKey[] = []): FieldIssue[] {
  const issues: FieldIssue[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        issues.push({ path: formatPath([...prefix, ...issue.path, key]), message: 'unknown field' });
      }
      continue;
    }
    issues.push({ path: formatPath([...prefix, ...issue.path]), message: issue.message });
  }
  return issues;
}

/**
 * Report a custom issue from inside a `z.transform`: zod/mini hands the transform the bare parse
 * payload, without the `ctx.addIssue` of classic zod, so the issue is pushed as classic zod did
 * it (code `custom`, at the value, or at `path` below it).
 */
export function addTransformIssue(payload: z.core.ParsePayload, message: string, path?: PropertyKey[]): void {
  payload.issues.push(path === undefined ? { code: 'custom', message, input: payload.value } : { code: 'custom', message, input: payload.value, path });
}

/**
 * Characters that must never reach a header or a log line: CR, LF, NUL, the other C0 controls
 * except TAB, DEL, NEL (U+0085), LINE SEPARATOR (U+2028) and PARAGRAPH SEPARATOR (U+2029).
 */
export const UNSAFE_HEADER_CHARS = /[\u0000-\u0008\u000A-\u001F\u007F\u0085\u2028\u2029]/u;

/** A description of the first unsafe character, or undefined when the value is header-safe. */
export function unsafeCharacter(value: string): string | undefined {
  const match = UNSAFE_HEADER_CHARS.exec(value);
  if (!match) return undefined;
  const code = match[0].codePointAt(0) ?? 0;
  const names: Record<number, string> = { 0: 'NUL', 9: 'TAB', 10: 'LF', 13: 'CR', 0x7f: 'DEL', 0x85: 'NEL (U+0085)', 0x2028: 'U+2028', 0x2029: 'U+2029' };
  return names[code] ?? `control character U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * `null` is the same as an absent optional field (docs/design.md §1.1): drop object properties whose
 * value is null, at any depth. Array elements are kept, so `to: [null]` is still an error.
 */
export function stripNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map((element) => (element === null ? null : stripNulls(element)));
  if (value !== null && typeof value === 'object' && !Buffer.isBuffer(value)) {
    const out: Record<string, unknown> = {};
    for (const [key, entry] of Object.entries(value)) {
      // defineProperty, not assignment: a "__proto__" key must stay a plain (unknown) field,
      // never become the object's prototype.
      if (entry !== null) Object.defineProperty(out, key, { value: stripNulls(entry), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return value;
}
