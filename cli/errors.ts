/**
 * The CLI's two ways to fail: a usage error (exit 2: the command line is wrong; help follows) and a
 * failure (exit 1: the command ran and something did not work). Both carry a message for stderr.
 */

/** Exit codes: 0 ok, 1 failure, 2 usage. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export class CliError extends Error {
  public readonly exitCode: number;
  public constructor(message: string, exitCode: number = EXIT_FAILURE, options?: ErrorOptions) {
    super(message, options);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

/** The command line itself is wrong: unknown option, missing argument, bad value. */
export class UsageError extends CliError {
  /** The command whose help to point at (`config put`), if known. */
  public readonly command: string | undefined;
  public constructor(message: string, command?: string, options?: ErrorOptions) {
    super(message, EXIT_USAGE, options);
    this.name = 'UsageError';
    this.command = command;
  }
}
