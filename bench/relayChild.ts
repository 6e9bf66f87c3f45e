/**
 * Child process: the SMTP relay (local/smtpRelay.ts: smtp-server demanding STARTTLS, then AUTH
 * PLAIN), so its CPU is not the client's. `node --import tsx bench/relayChild.ts <delay|no-delay>`.
 *
 * `no-delay` removes smtp-server's fixed 100 ms pause before the 220 greeting (SMTPConnection#init
 * in smtp-server/lib/smtp-connection.js waits 100 ms to catch clients that talk too early) by
 * replacing `init` with the same code minus the timer. `delay` runs smtp-server as shipped.
 * `start` reports the greeting latency it measured, so the results show which is which.
 */
import { connect } from 'node:net';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import { startSmtpRelay, type SmtpRelay } from '../local/smtpRelay.js';
import { startDelayProxy, type DelayProxy } from './delayProxy.js';
import { serve } from './ipc.js';
import type { GreetingMode } from './workload.js';

/** What the relay saw since the last `counters` request. */
export interface RelayCounters {
  readonly connections: number;
  readonly messages: number;
  readonly rejected: number;
  readonly bytes: number;
  readonly authFailures: number;
  readonly errors: number;
  /** `process.cpuUsage()` of the relay process (user + system), in ms. */
  readonly cpuMs: number;
  /** Command verbs (EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA, RSET, QUIT, ...) and how often. */
  readonly commands: Readonly<Record<string, number>>;
}

export interface RelayStart {
  readonly port: number;
  readonly greeting: GreetingMode;
  /** Median of 5 connect → first byte of the greeting, in ms (through the delay proxy, if any). */
  readonly greetingMs: number;
  /** Round trip the delay proxy adds (0 = loopback). */
  readonly rttMs?: number;
}

function removeGreetingDelay(): void {
  const proto = SMTPConnection.prototype as unknown as {
    init(this: SMTPConnection): void;
  };
  proto.init = function init(this: SMTPConnection): void {
    this._setListeners(() => {
      const server = (this as unknown as { _server: { options: { maxClients?: number }; connections: Set<unknown> } })._server;
      if (server.options.maxClients && server.connections.size > server.options.maxClients) {
        this.send(421, `${this.name} Too many connected clients, try again in a moment`, false);
        return;
      }
      this.connectionReady();
    });
  };
}

function greetingLatency(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = connect(port, '127.0.0.1');
    socket.once('data', () => {
      resolve(performance.now() - started);
      socket.end('QUIT\r\n');
    });
    socket.once('error', reject);
  });
}

const greeting: GreetingMode = process.argv[2] === 'no-delay' ? 'no-delay' : 'delay';
/** `relayChild.ts <greeting> <smtp rtt ms>`: clients reach the relay through a delay proxy. */
const rttMs = Number(process.argv[3] ?? '0') || 0;
let proxy: DelayProxy | undefined;
if (greeting === 'no-delay') removeGreetingDelay();
let relay: SmtpRelay | undefined;
let cpuSince = process.cpuUsage();

serve(
  {
    async start(payload: { users: Record<string, string> }): Promise<RelayStart> {
      relay = await startSmtpRelay({ users: payload.users, authMethods: ['PLAIN'], socketTimeoutMs: 300_000 });
      if (rttMs > 0) proxy = await startDelayProxy(relay.port, rttMs);
      const port = proxy?.port ?? relay.port;
      const samples: number[] = [];
      for (let i = 0; i < 5; i++) samples.push(await greetingLatency(port));
      samples.sort((a, b) => a - b);
      relay.clear();
      return { port, greeting, greetingMs: Math.round(samples[2]! * 10) / 10, rttMs };
    },
    counters(): RelayCounters {
      if (!relay) throw new Error('relay not started');
      const commands: Record<string, number> = {};
      for (const verb of relay.commands) commands[verb] = (commands[verb] ?? 0) + 1;
      const cpu = process.cpuUsage(cpuSince);
      cpuSince = process.cpuUsage();
      const counters: RelayCounters = {
        connections: relay.connectionCount,
        messages: relay.messages.length,
        rejected: relay.rejectedMessages.length,
        bytes: relay.messages.reduce((sum, m) => sum + m.raw.length, 0),
        authFailures: relay.authAttempts.filter((a) => !a.success).length,
        errors: relay.errors.length,
        cpuMs: (cpu.user + cpu.system) / 1000,
        commands,
      };
      relay.clear();
      return counters;
    },
  },
  async () => {
    await proxy?.stop();
    await relay?.stop();
  },
);
