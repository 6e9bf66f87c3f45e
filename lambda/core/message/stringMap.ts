/** `headers` and `tags`: JSON objects that map names to strings (docs/design.md §1.1). */
import * as z from 'zod/mini';
import { addTransformIssue } from '../validation.js';
import { MAX_ISSUES_PER_FIELD } from './constants.js';

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
  return z.pipe(
    z.unknown(),
    z.transform((input: unknown, ctx): Record<string, string> => {
      if (input === null || typeof input !== 'object' || Array.isArray(input)) {
        addTransformIssue(ctx, `must be an object mapping ${options.holds}`);
        return z.NEVER;
      }
      const map = input as Record<string, unknown>;
      const entries = Object.entries(map);
      if (options.maxEntries !== undefined && entries.length > options.maxEntries) {
        // Checking each of too many entries would only describe the same mistake many times.
        addTransformIssue(ctx, `must have at most ${options.maxEntries} entries (has ${entries.length})`);
        return z.NEVER;
      }
      const out = Object.create(null) as Record<string, string>;
      let bad = 0;
      for (const [key, value] of entries) {
        const problems = typeof value === 'string' ? options.check(key, value, map) : ['must be a string'];
        if (problems.length > 0 && ++bad <= MAX_ISSUES_PER_FIELD) {
          for (const message of problems) addTransformIssue(ctx, message, [key]);
        }
        if (typeof value === 'string') out[key] = value;
      }
      if (bad > MAX_ISSUES_PER_FIELD) addTransformIssue(ctx, `has ${bad - MAX_ISSUES_PER_FIELD} more invalid entries, not listed`);
      return out;
    }),
  );
}
