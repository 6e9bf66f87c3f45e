/**
 * The state file of a running `npm start`: where each local stand-in listens, so that
 * `mailrelay --local ...` in another terminal talks to them. Written when the stack is up,
 * removed when it stops. Git-ignored (`.local-state/`).
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

/** `<repo>/.local-state/endpoints.json`; override with `MAILRELAY_LOCAL_STATE` or `--state-file`. */
export const DEFAULT_STATE_FILE = fileURLToPath(new URL('../.local-state/endpoints.json', import.meta.url));

/** The environment variable naming another state file (tests, several stacks at once). */
export const STATE_FILE_ENV = 'MAILRELAY_LOCAL_STATE';

export const STATE_VERSION = 1;

/** What `npm start` writes. Endpoints are `http://127.0.0.1:<port>`. */
export interface LocalState {
  readonly version: typeof STATE_VERSION;
  /** The process that runs the stand-ins. */
  readonly pid: number;
  readonly startedAt: string;
  readonly region: string;
  readonly endpoints: {
    readonly sqs: string;
    readonly dynamodb: string;
    /** Secrets Manager and SSM share one endpoint. */
    readonly secrets: string;
    /** The S3 stand-in (path-style); absent in state files written before it existed. */
    readonly s3?: string;
    /** The EventBridge PutEvents stand-in (absent in state files written before it existed). */
    readonly events?: string;
    /** The Lambda Invoke stand-in, when npm start serves function hooks (`--auth-hook-function`). */
    readonly lambda?: string;
  };
  /** The bus delivery events go to (EVENT_BUS_NAME). */
  readonly eventBus?: string;
  readonly configTable: string;
  readonly idempotencyTable: string;
  /** Fleet-wide relay suspensions (absent in state files written before it existed). */
  readonly relayStateTable?: string;
  readonly queueUrl: string;
  readonly queueArn: string;
  readonly dlqUrl: string;
  readonly dlqArn: string;
  /** The local SMTP relay. */
  readonly relay: { readonly host: string; readonly port: number; readonly tls: string };
  /** PEM of the test CA the local relay's certificate is signed with. */
  readonly caFile: string;
  readonly secretPrefix: string;
  /** The payload bucket on the S3 stand-in (docs/payloads.md). */
  readonly payloadBucket?: string;
  /** `mailrelay gateway` and its demo submitter (docs/design.md §3.1), when it runs. */
  readonly gateway?: { readonly host: string; readonly port: number; readonly user: string; readonly password: string; readonly from: string };
}

export class LocalStateError extends Error {
  public constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'LocalStateError';
  }
}

/** The state file to use: the explicit one, else `$MAILRELAY_LOCAL_STATE`, else the default. */
export function stateFilePath(explicit?: string, env: Readonly<Record<string, string | undefined>> = process.env): string {
  return explicit ?? (env[STATE_FILE_ENV]?.trim() || DEFAULT_STATE_FILE);
}

/** Writes the state atomically (write + rename), so a reader never sees half a file. */
export function writeState(file: string, state: LocalState): void {
  mkdirSync(dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  renameSync(temporary, file);
}

/**
 * Reads the state of a running stack.
 * @throws LocalStateError when there is no state file, it is unreadable, or its process is gone.
 */
export function readState(file: string): LocalState {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new LocalStateError(`no local stack is running (no ${file}): start one with \`npm start\` in another terminal`);
    }
    throw new LocalStateError(`cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
  let state: LocalState;
  try {
    state = JSON.parse(text) as LocalState;
  } catch (error) {
    throw new LocalStateError(`${file} is not valid JSON`, { cause: error });
  }
  if (state?.version !== STATE_VERSION || typeof state.queueUrl !== 'string' || typeof state.endpoints?.sqs !== 'string') {
    throw new LocalStateError(`${file} is not a mailrelay state file of version ${STATE_VERSION}: restart \`npm start\``);
  }
  if (!processAlive(state.pid)) {
    throw new LocalStateError(`the local stack in ${file} (pid ${state.pid}) is no longer running: start it again with \`npm start\``);
  }
  return state;
}

/** Removes the state file if it still belongs to `pid` (another stack may have replaced it). */
export function removeState(file: string, pid: number = process.pid): void {
  try {
    const state = JSON.parse(readFileSync(file, 'utf8')) as Partial<LocalState>;
    if (state.pid !== pid) return;
  } catch {
    return;
  }
  rmSync(file, { force: true });
}

function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, it is just not ours to signal
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
