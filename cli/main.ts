/**
 * `mailrelay`: the command line of the mail relay worker. Works against AWS (the default
 * credential chain and region) or, with `--local`, the stand-ins of a running `npm start`.
 *
 * Exit codes: 0 ok, 1 failure, 2 usage.
 */
import { splitCommand } from './args.js';
import { parseCommandArgs } from './args.js';
import type { Command, CommandContext } from './command.js';
import { COMMANDS } from './commands/index.js';
import { CliError, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError } from './errors.js';
import { processIo, table, type Io } from './io.js';
import { readStackOutputs, type StackOutputs } from './stackOutputs.js';
import { resolveTarget, type Target } from './target.js';

const GLOBAL_HELP = `Global options (any command):
  --local               act on the stand-ins of a running \`npm start\` (endpoints from its state file)
  --state-file FILE     the state file of --local (default: $MAILRELAY_LOCAL_STATE or .local-state/endpoints.json)
  --region REGION       AWS region (default: the SDK's chain: AWS_REGION, the profile, ...)
  --profile NAME        AWS profile (default: AWS_PROFILE, else the default chain)
  --stack NAME          read the table names and queue URLs below from this CloudFormation stack's
                        outputs (DescribeStacks) instead of the environment
  --config-table NAME   config table (default: $MAILRELAY_CONFIG_TABLE)
  --idempotency-table NAME  idempotency table (default: $MAILRELAY_IDEMPOTENCY_TABLE)
  --queue-url URL       main queue (default: $MAILRELAY_QUEUE_URL)
  --dlq-url URL         dead-letter queue (default: $MAILRELAY_DLQ_URL)
  --json                machine-readable output: one JSON document on stdout
  -h, --help            help (also after a command: mailrelay config put --help)`;

export function mainHelp(): string {
  const rows = COMMANDS.map((c) => [`  ${c.name}`, c.summary]);
  return [
    'Usage: mailrelay [--local] COMMAND [OPTIONS]',
    '',
    'Operate the mailrelay worker: enqueue messages, manage config items, check a route, inspect',
    'and redrive the dead-letter queue, run the worker against a queue, or run the SMTP submission gateway.',
    '',
    'Commands:',
    ...table(rows),
    '',
    GLOBAL_HELP,
    '',
    'Table and queue names are the outputs of the CDK stack (ConfigTableName, IdempotencyTableName,',
    'QueueUrl, DeadLetterQueueUrl): pass --stack NAME to read them. Exit status: 0 ok, 1 failure, 2 usage error.',
    '',
    'Examples:',
    '  npm start                                    # in one terminal',
    '  mailrelay --local config list                # in another',
    '  mailrelay --local enqueue local/sample-message.json',
    '  mailrelay --local check --from billing@acme.example --to alice@partner.example',
  ].join('\n');
}

function groupHelp(group: string): string {
  const rows = COMMANDS.filter((c) => c.name.startsWith(`${group} `)).map((c) => [`  ${c.name}`, c.summary]);
  return [`Usage: mailrelay ${group} SUBCOMMAND [OPTIONS]`, '', 'Subcommands:', ...table(rows), '', `Help on one: mailrelay ${group} SUBCOMMAND --help`].join('\n');
}

export interface MainOptions {
  readonly io?: Io;
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly signal?: AbortSignal;
}

/**
 * Runs one command line; resolves with the exit code. Never exits the process itself.
 * @example
 * process.exitCode = await main(process.argv.slice(2));
 */
export async function main(argv: readonly string[], options: MainOptions = {}): Promise<number> {
  const io = options.io ?? processIo;
  const env = options.env ?? process.env;
  const { words, rest } = splitCommand(argv);
  const name = words.join(' ');
  const wantsHelp = rest.includes('--help') || rest.includes('-h');

  if (words.length === 0) {
    if (wantsHelp) {
      io.out(mainHelp());
      return EXIT_OK;
    }
    io.err(mainHelp());
    return EXIT_USAGE;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    const group = words[0]!;
    if (COMMANDS.some((c) => c.name.startsWith(`${group} `))) {
      if (words.length === 1 && wantsHelp) {
        io.out(groupHelp(group));
        return EXIT_OK;
      }
      io.err(`${words.length === 1 ? `${group}: missing subcommand` : `unknown command: ${name}`}\n\n${groupHelp(group)}`);
      return EXIT_USAGE;
    }
    io.err(`unknown command: ${words[0]}\n\nRun mailrelay --help for the list.`);
    return EXIT_USAGE;
  }
  if (wantsHelp) {
    io.out(`${command.help}\n\n${GLOBAL_HELP}`);
    return EXIT_OK;
  }
  return runCommand(command, rest, io, env, options.signal ?? new AbortController().signal);
}

async function runCommand(command: Command, args: readonly string[], io: Io, env: Readonly<Record<string, string | undefined>>, signal: AbortSignal): Promise<number> {
  let target: Target | undefined;
  try {
    const parsed = parseCommandArgs<Record<string, unknown>>(command.name, args, command.options, command.positionals);
    if (!command.positionals && parsed.positionals.length > 0) throw new UsageError(`unexpected argument: ${parsed.positionals[0]}`, command.name);
    if (parsed.values.stack !== undefined && parsed.values.local) throw new UsageError('--stack and --local exclude each other', command.name);
    const stack = parsed.values.stack === undefined ? undefined : await stackOutputs(parsed.values.stack, parsed.values.region, parsed.values.profile);
    const ctx: CommandContext = {
      io,
      values: parsed.values,
      json: parsed.values.json === true,
      env,
      signal,
      target: () => (target ??= resolveTarget(command.name, parsed.values, env, stack)),
    };
    const run = await command.load();
    return await run(parsed, ctx);
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`mailrelay ${command.name}: ${error.message}\nSee: mailrelay ${command.name} --help`);
      return EXIT_USAGE;
    }
    if (error instanceof CliError) {
      io.err(`mailrelay ${command.name}: ${error.message}`);
      return error.exitCode;
    }
    io.err(`mailrelay ${command.name}: ${describeError(error, target)}`);
    return EXIT_FAILURE;
  } finally {
    target?.close();
  }
}

/** The outputs of `--stack NAME`, read once before the command runs. */
async function stackOutputs(name: string, region: string | undefined, profile: string | undefined): Promise<StackOutputs> {
  if (profile) process.env['AWS_PROFILE'] = profile;
  const client = new (await import('@aws-sdk/client-cloudformation')).CloudFormationClient(region ? { region } : {});
  try {
    return await readStackOutputs(client, name);
  } finally {
    client.destroy();
  }
}

/** AWS SDK errors as one line: the error name, its message and where we were talking to. */
function describeError(error: unknown, target: Target | undefined): string {
  const e = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const where = target ? ` [${target.label}]` : '';
  if (e?.name === 'CredentialsProviderError') return `no AWS credentials found${where}: configure them (aws configure, AWS_PROFILE, ...) or use --local`;
  if (e?.message === 'Region is missing') return 'no AWS region: pass --region or set AWS_REGION';
  if (e?.name && e.name !== 'Error' && e.message) return `${e.name}: ${e.message}${where}`;
  return `${e?.message ?? String(error)}${where}`;
}
