/** The shape of a CLI command, and what it gets to run. */
import type { GlobalValues, OptionsConfig, Parsed } from './args.js';
import type { Io } from './io.js';
import type { Target } from './target.js';

export interface CommandContext {
  readonly io: Io;
  readonly values: GlobalValues;
  /** `--json`: one JSON document on stdout instead of text. */
  readonly json: boolean;
  /** Where the command acts; resolved on first call (so `--help` needs no AWS and no stack). */
  target(): Target;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Aborted on SIGINT / SIGTERM (long-running commands stop cleanly). */
  readonly signal: AbortSignal;
}

export interface Command {
  /** `enqueue`, `config put`, ... */
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  /** The full help: usage line, description, options, examples. */
  readonly help: string;
  readonly options: OptionsConfig;
  readonly positionals: boolean;
  /** Loads the implementation: each command imports only the AWS clients it needs, so help is instant. */
  load(): Promise<CommandRun>;
}

/** @returns the exit code. Throws CliError / UsageError for failures it does not print itself. */
export type CommandRun = (parsed: Parsed<Record<string, unknown>>, ctx: CommandContext) => Promise<number>;

/** Reads a string-list option (a `multiple: true` string option). */
export const list = (value: unknown): string[] => (Array.isArray(value) ? value.map(String) : value === undefined ? [] : [String(value)]);
/** Reads a string option. */
export const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
