/** `headers` and `tags`: JSON objects that map names to strings (DESIGN.md §1.1). */
import { z } from 'zod';

/** The problems of one entry, reported at its path (`headers.X-Foo`); `input` is the whole map. */
export type EntryCheck = (key: string, value: string, input: Readonly<Record<string, unknown>>) => readonly string[];

export interface StringMapOptions {
  /** What the map holds, for the message when it is not an object: "header names to values". */
  readonly holds: string;
  /** @default no limit */
  readonly maxEntries?: number;
  readonly check: EntryCheck;
}

/**
 * A zod schema for a name → string map that reports every bad entry at its own path. The result
 * has no prototype, so a name like `constructor` is just a name.
 */
export function stringMapSchema(options: StringMapOptions) {
  return z.unknown().transform((input, ctx): Record<string, string> => {
    if (input === null || typeof input !== 'object' || Array.isArray(input)) {
      ctx.addIssue({ code: 'custom', message: `must be an object mapping ${options.holds}` });
      return z.NEVER;
    }
    const map = input as Record<string, unknown>;
    const entries = Object.entries(map);
    if (options.maxEntries !== undefined && entries.length > options.maxEntries) {
      ctx.addIssue({ code: 'custom', message: `must have at most ${options.maxEntries} entries (has ${entries.length})` });
    }
    const out = Object.create(null) as Record<string, string>;
    for (const [key, value] of entries) {
      if (typeof value !== 'string') {
        ctx.addIssue({ code: 'custom', path: [key], message: 'must be a string' });
        continue;
      }
      for (const message of options.check(key, value, map)) ctx.addIssue({ code: 'custom', path: [key], message });
      out[key] = value;
    }
    return out;
  });
}
