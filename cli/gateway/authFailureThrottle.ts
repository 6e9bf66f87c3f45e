/**
 * Repeated AUTH failures from one client address are slowed, then refused for a while
 * (docs/design.md §3.1), as Postfix's anvil and KumoMTA's throttles do. Memory is bounded: at most
 * `maxAddresses` addresses are tracked, the least recently failing ones forgotten first.
 */
import {
  AUTH_FAILURE_DELAY_MS,
  AUTH_FAILURE_MAX_DELAY_MS,
  AUTH_FAILURE_TRACKED_ADDRESSES,
  AUTH_FAILURE_WINDOW_MS,
  AUTH_FAILURES_BEFORE_LOCKOUT,
  AUTH_LOCKOUT_MS,
} from './constants.js';

export interface AuthFailureThrottleOptions {
  /** The delay before the first 535. @default AUTH_FAILURE_DELAY_MS (1 s) */
  readonly delayMs?: number;
  /** The delay doubles per failure up to this. @default AUTH_FAILURE_MAX_DELAY_MS (8 s) */
  readonly maxDelayMs?: number;
  /** Failures within the window that lock the address out. @default 10 */
  readonly failuresBeforeLockout?: number;
  /** @default 15 minutes */
  readonly windowMs?: number;
  /** @default 15 minutes */
  readonly lockoutMs?: number;
  /** @default 10,000 */
  readonly maxAddresses?: number;
  readonly now?: () => number;
}

interface AddressRecord {
  failures: number;
  firstFailureAt: number;
  lockedUntil: number;
}

export class AuthFailureThrottle {
  private readonly records = new Map<string, AddressRecord>();
  private readonly delayMs: number;
  private readonly maxDelayMs: number;
  private readonly failuresBeforeLockout: number;
  private readonly windowMs: number;
  private readonly lockoutMs: number;
  private readonly maxAddresses: number;
  private readonly now: () => number;

  public constructor(options: AuthFailureThrottleOptions = {}) {
    this.delayMs = options.delayMs ?? AUTH_FAILURE_DELAY_MS;
    this.maxDelayMs = Math.max(this.delayMs, options.maxDelayMs ?? AUTH_FAILURE_MAX_DELAY_MS);
    this.failuresBeforeLockout = options.failuresBeforeLockout ?? AUTH_FAILURES_BEFORE_LOCKOUT;
    this.windowMs = options.windowMs ?? AUTH_FAILURE_WINDOW_MS;
    this.lockoutMs = options.lockoutMs ?? AUTH_LOCKOUT_MS;
    this.maxAddresses = options.maxAddresses ?? AUTH_FAILURE_TRACKED_ADDRESSES;
    this.now = options.now ?? Date.now;
  }

  /** Milliseconds the address stays refused, or 0 when it may try to authenticate. */
  public lockedFor(address: string): number {
    const record = this.current(address);
    return record ? Math.max(0, record.lockedUntil - this.now()) : 0;
  }

  /**
   * Count one failure.
   * @returns how long to wait before answering 535, and whether this failure locked the address out.
   */
  public recordFailure(address: string): { readonly delayMs: number; readonly failures: number; readonly lockedOut: boolean } {
    const now = this.now();
    const record = this.current(address) ?? { failures: 0, firstFailureAt: now, lockedUntil: 0 };
    record.failures += 1;
    const lockedOut = record.failures >= this.failuresBeforeLockout && record.lockedUntil <= now;
    if (lockedOut) record.lockedUntil = now + this.lockoutMs;
    // Re-insert: Map keeps insertion order, so the first key is the least recently failing address.
    this.records.delete(address);
    this.records.set(address, record);
    while (this.records.size > this.maxAddresses) this.records.delete(this.records.keys().next().value as string);
    const delayMs = Math.min(this.maxDelayMs, this.delayMs * 2 ** Math.min(record.failures - 1, 30));
    return { delayMs, failures: record.failures, lockedOut };
  }

  /** A success does not erase failures: a guesser who also holds one valid password gains nothing. */
  public get trackedAddresses(): number {
    return this.records.size;
  }

  private current(address: string): AddressRecord | undefined {
    const record = this.records.get(address);
    if (!record) return undefined;
    const now = this.now();
    if (record.lockedUntil <= now && now - record.firstFailureAt > this.windowMs) {
      this.records.delete(address);
      return undefined;
    }
    return record;
  }
}
