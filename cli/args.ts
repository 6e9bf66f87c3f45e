/**
 * Command-line parsing on `node:util` parseArgs. Global options may come before or after the
 * command; each command adds its own options and is parsed strictly (a typo is a usage error).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './errors.js';

export type OptionsConfig = NonNullable<ParseArgsConfig['options']>;

/** Options every command accepts. */
export const GLOBAL_OPTIONS = {
  local: { type: 'boolean' },
  'state-file': { type: 'string' },
  region: { type: 'string' },
  profile: { type: 'string' },
  stack: { type: 'string' },
  'config-table': { type: 'string' },
  'idempotency-table': { type: 'string' },
  'queue-url': { type: 'string' },
  'dlq-url': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies OptionsConfig;

export interface GlobalValues {
  readonly local?: boolean | undefined;
  readonly 'state-file'?: string | undefined;
  readonly region?: string | undefined;
  readonly profile?: string | undefined;
  readonly stack?: string | undefined;
  readonly 'config-table'?: string | undefined;
  readonly 'idempotency-table'?: string | undefined;
  readonly 'queue-url'?: string | undefined;
  readonly 'dlq-url'?: string | undefined;
  readonly json?: boolean | undefined;
  readonly help?: boolean | undefined;
}

/** Commands with subcommands: their second word is part of the command name. */
const GROUPS = new Set(['config', 'dlq', 'dkim']);

/**
 * Splits the command words (`config put`) from the options and operands around them.
 * @example
 * splitCommand(['--local', 'config', 'put', 'items.json']);
 * // { words: ['config', 'put'], rest: ['--local', 'items.json'] }
 */
export function splitCommand(argv: readonly string[]): { words: string[]; rest: string[] } {
  const words: string[] = [];
  const rest: string[] = [];
  const takesValue = (token: string): boolean => {
    const name = token.replace(/^--?/, '');
    const option = (GLOBAL_OPTIONS as OptionsConfig)[name];
    return option?.type === 'string';
  };
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    if (token.startsWith('-') && token !== '-') {
      rest.push(token);
      if (!token.includes('=') && takesValue(token) && i + 1 < argv.length) rest.push(argv[++i]!);
      continue;
    }
    const wantsWord = words.length === 0 || (words.length === 1 && GROUPS.has(words[0]!));
    if (wantsWord) words.push(token);
    else rest.push(token);
  }
  return { words, rest };
}

export interface Parsed<V> {
  readonly values: V & GlobalValues;
  readonly positionals: string[];
}

/**
 * Parses a command's arguments with the global options and its own.
 * @throws UsageError for unknown options, missing values or unexpected operands.
 */
export function parseCommandArgs<V>(command: string, args: readonly string[], options: OptionsConfig, allowPositionals: boolean): Parsed<V> {
  try {
    const { values, positionals } = parseArgs({ args: [...args], options: { ...GLOBAL_OPTIONS, ...options }, strict: true, allowPositionals });
    return { values: values as V & GlobalValues, positionals };
  } catch (error) {
    throw new UsageError((error as Error).message.replace(/\. To specify a positional argument starting with a '-'.*$/s, ''), command, { cause: error });
  }
}

/** A positive integer option, or the fallback when absent. */
export function integerOption(command: string, name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be a whole number from ${min} to ${max} (got "${value}")`, command);
  return n;
}
