/**
 * Request/response over Node's IPC channel between the bench orchestrator and its child
 * processes (the SMTP relay, the AWS emulators, the client under test). Each child is its own
 * process so that `process.cpuUsage()` in the client counts the client's CPU only.
 */
import { fork, type ChildProcess } from 'node:child_process';

interface IpcRequest {
  readonly id: number;
  readonly type: string;
  readonly payload?: unknown;
}

interface IpcResponse {
  readonly id: number;
  readonly ok: boolean;
  readonly result?: unknown;
  readonly error?: string;
}

/** A running child that answers requests. */
export interface BenchChild {
  readonly name: string;
  readonly process: ChildProcess;
  request<T>(type: string, payload?: unknown): Promise<T>;
  /** Ask the child to exit (request `exit`), and kill it if it has not after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export interface StartChildOptions {
  readonly name: string;
  /** Node flags of the child (`--import tsx`, `--enable-source-maps`); never the parent's. */
  readonly execArgv: string[];
  readonly args?: string[];
  readonly env?: NodeJS.ProcessEnv;
  /** Receives everything the child writes on stdout and stderr (always drained). */
  readonly onOutput?: (chunk: Buffer, stream: 'stdout' | 'stderr') => void;
}

/** Fork `file` with an IPC channel; stdout and stderr are piped to `onOutput` (or dropped). */
export function startChild(file: string, options: StartChildOptions): BenchChild {
  const child = fork(file, options.args ?? [], {
    execArgv: options.execArgv,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  child.stdout?.on('data', (chunk: Buffer) => options.onOutput?.(chunk, 'stdout'));
  child.stderr?.on('data', (chunk: Buffer) => options.onOutput?.(chunk, 'stderr'));
  let nextId = 1;
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void; type: string }>();
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exitPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      for (const [, waiter] of pending) waiter.reject(new Error(`${options.name}: exited (code ${String(code)}, signal ${String(signal)}) during "${waiter.type}"`));
      pending.clear();
      resolve();
    });
  });
  child.on('message', (raw: unknown) => {
    const message = raw as IpcResponse;
    const waiter = pending.get(message.id);
    if (!waiter) return;
    pending.delete(message.id);
    if (message.ok) waiter.resolve(message.result);
    else waiter.reject(new Error(`${options.name}: ${message.error ?? 'failed'}`));
  });
  child.on('error', () => undefined);

  return {
    name: options.name,
    process: child,
    request<T>(type: string, payload?: unknown): Promise<T> {
      if (exited) return Promise.reject(new Error(`${options.name}: already exited`));
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        pending.set(id, { resolve: resolve as (value: unknown) => void, reject, type });
        child.send({ id, type, payload } satisfies IpcRequest);
      });
    },
    async stop(graceMs = 5_000): Promise<void> {
      if (exited) return;
      const id = nextId++;
      try {
        child.send({ id, type: 'exit' } satisfies IpcRequest);
      } catch {
        // the channel is already closed: the exit event follows
      }
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exitPromise;
      clearTimeout(timer);
    },
  };
}

type Handler = (payload: never) => unknown;

/**
 * The child side: answer each request with `handlers[type](payload)`. The `exit` request runs
 * `onExit` (if any) and ends the process.
 */
export function serve(handlers: Record<string, Handler>, onExit?: () => Promise<void> | void): void {
  const send = (response: IpcResponse): Promise<void> =>
    new Promise((resolve) => {
      if (!process.send) return resolve();
      process.send(response, undefined, {}, () => resolve());
    });
  process.on('message', (raw: unknown) => {
    const request = raw as IpcRequest;
    void (async () => {
      if (request.type === 'exit') {
        try {
          await onExit?.();
        } finally {
          process.exit(0);
        }
      }
      const handler = handlers[request.type];
      try {
        if (!handler) throw new Error(`unknown request "${request.type}"`);
        const result = await (handler as (payload: unknown) => unknown)(request.payload);
        await send({ id: request.id, ok: true, result });
      } catch (error) {
        await send({ id: request.id, ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
      }
    })();
  });
  // The parent went away: nothing left to serve.
  process.on('disconnect', () => process.exit(0));
}
