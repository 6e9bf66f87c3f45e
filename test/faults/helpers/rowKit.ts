/**
 * What every row of the fault matrix needs: relays it starts (and the kit stops), a route for
 * its own binding (so rows never share config or pooled connections), and `finish`, which
 * checks the row's final place (queue empty: every message acknowledged or dead-lettered; none
 * lost, none acknowledged twice) and adds it to the closing table.
 */
import { expect } from 'vitest';
import { startRawSmtpServer, type RawSmtpServer, type RawSmtpServerOptions } from '../../../local/rawSmtpServer.js';
import { startSmtpRelay, type SmtpRelay, type SmtpRelayOptions } from '../../../local/smtpRelay.js';
import { attribute, RELAY_PASSWORD, RELAY_SECRET, RELAY_USER, type AnyRelay, type FaultHarness, type Round, type Tally } from './faultHarness.js';

export interface RouteOptions {
  readonly relay?: Record<string, unknown>;
  readonly auth?: Record<string, unknown>;
  readonly limits?: Record<string, unknown>;
}

export interface FinishOptions {
  readonly group: string;
  readonly row: string;
  readonly key: string;
  readonly recipients: readonly string[];
  readonly relays: readonly AnyRelay[];
  readonly rounds: readonly Round[];
  /** Overrides the computed outcome text. */
  readonly outcome?: string;
  /** For the documented at-least-once cases only. @default 0 */
  readonly expectDuplicated?: number;
  readonly note?: string;
}

export interface RowKit {
  readonly h: FaultHarness;
  smtp(options?: SmtpRelayOptions): Promise<SmtpRelay>;
  raw(options?: RawSmtpServerOptions): Promise<RawSmtpServer>;
  /** Config item `binding#<binding>`: the relay on 127.0.0.1:port, STARTTLS, AUTH PLAIN from the shared secret. */
  route(binding: string, port: number, options?: RouteOptions): Promise<void>;
  finish(options: FinishOptions): Promise<Tally>;
  stopAll(): Promise<void>;
}

export function createRowKit(harness: () => FaultHarness): RowKit {
  const started: { stop(): Promise<void> }[] = [];
  const kit: RowKit = {
    get h() {
      return harness();
    },
    async smtp(options = {}) {
      const relay = await startSmtpRelay({ users: { [RELAY_USER]: RELAY_PASSWORD }, ...options });
      started.push(relay);
      return relay;
    },
    async raw(options = {}) {
      const server = await startRawSmtpServer({ users: { [RELAY_USER]: RELAY_PASSWORD }, ...options });
      started.push(server);
      return server;
    },
    async route(binding, port, options = {}) {
      await kit.h.world.putConfig({
        scope: `binding#${binding}`,
        relay: { host: '127.0.0.1', port, tls: 'starttls', timeoutSeconds: 5, ...options.relay },
        auth: { type: 'PLAIN', pass: { secret: RELAY_SECRET }, ...options.auth },
        limits: { maxConnections: 2, maxMessagesPerConnection: 100, ...options.limits },
      });
    },
    async finish(options) {
      const h = kit.h;
      // Nothing left behind: every message was acknowledged or dead-lettered.
      expect(await h.queueDepth(), 'messages still on the queue').toBe(0);
      const tally = await h.tally(options.key, options.recipients, options.relays);
      expect(tally.lost, 'recipients lost').toBe(0);
      expect(tally.duplicated, 'recipients acknowledged twice').toBe(options.expectDuplicated ?? 0);
      h.summary.push({
        group: options.group,
        row: options.row,
        outcome: options.outcome ?? describeOutcome(options.key, options.rounds, tally, await h.dlqFor(options.key)),
        lost: tally.lost,
        duplicated: tally.duplicated,
        note: options.note,
      });
      return tally;
    },
    async stopAll() {
      await Promise.all(started.splice(0).map((s) => s.stop()));
    },
  };
  return kit;
}

function keyOf(body: string): string | undefined {
  try {
    return (JSON.parse(body) as { idempotencyKey?: string }).idempotencyKey;
  } catch {
    return undefined;
  }
}

function describeOutcome(key: string, rounds: readonly Round[], tally: Tally, dlq: readonly { MessageAttributes?: unknown }[]): string {
  // Invocations that reported a record of this message as a batch item failure.
  const retries = rounds.filter((r) => r.records.some((record) => r.failed.includes(record.messageId) && keyOf(record.body) === key)).length;
  const total = tally.acknowledged.size;
  const relayed = [...tally.acknowledged.values()].filter((n) => n > 0).length;
  const parts: string[] = [];
  if (relayed === total) parts.push(total > 1 ? `relayed once (${total} rcpts)` : 'relayed once');
  else if (relayed > 0) parts.push(`${relayed}/${total} rcpts relayed once`);
  const latest = dlq.at(-1) as Parameters<typeof attribute>[0];
  if (latest && tally.deadLettered.size > 0) parts.push(`DLQ ${attribute(latest, 'mailrelay.reason') ?? '?'} [${tally.deadLettered.size} rcpt]`);
  return `${retries > 0 ? `retried x${retries}, then ` : ''}${parts.join(' + ')}`;
}
