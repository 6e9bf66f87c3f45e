/**
 * Gateway events as one JSON line each (what CloudWatch metric filters count in the stack:
 * `auth-failed`, `auth-locked-out`, and every 4xx reply), plus in-memory counts for tests and
 * the banner. Never a password: the events carry identities, addresses, codes and reasons.
 */
import type { GatewayEvent, GatewayEventName, GatewayEventSink } from './ports.js';

export class JsonLineEvents implements GatewayEventSink {
  public readonly counts = new Map<GatewayEventName, number>();

  public constructor(private readonly write: (line: string) => void = (line) => process.stdout.write(`${line}\n`)) {}

  public emit(event: GatewayEvent): void {
    this.counts.set(event.event, (this.counts.get(event.event) ?? 0) + 1);
    this.write(JSON.stringify({ time: new Date().toISOString(), service: 'mailrelay-gateway', ...event }));
  }

  public count(name: GatewayEventName): number {
    return this.counts.get(name) ?? 0;
  }
}

/** Keeps the events in memory (tests). */
export class MemoryEvents implements GatewayEventSink {
  public readonly events: GatewayEvent[] = [];
  public emit(event: GatewayEvent): void {
    this.events.push(event);
  }
  public named(name: GatewayEventName): GatewayEvent[] {
    return this.events.filter((event) => event.event === name);
  }
}
