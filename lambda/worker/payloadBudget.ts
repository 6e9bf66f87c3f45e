/**
 * The payload bytes one sandbox holds at once (docs/payloads.md "Memory"). A record whose body is
 * an S3 pointer acquires the payload's size before the object is read and releases it when the
 * record is done, whatever its outcome; while the budget is spent, records wait in arrival order.
 *
 * - FIFO, no barging: a small payload never overtakes a large one that waits before it, so a
 *   large payload is never starved by a stream of small ones.
 * - A payload larger than the whole budget still runs, alone: it is granted when nothing else is
 *   held, and nothing else is granted until it is released. Size alone never refuses a record
 *   (the 40 MiB limit is lambda/core/payloads.ts' business).
 * - A wait has a deadline (the invocation's remaining time): a waiter whose time runs out is
 *   removed and rejected with {@link PayloadBudgetTimeout}; the caller defers the record.
 * - A lease releases once: a second release is ignored, so an `finally` after an explicit release
 *   never hands the same bytes back twice.
 * - A lease can shrink (never grow): a payload acquired at its declared size holds only the bytes
 *   actually read, so an inflated `ExtendedPayloadSize` cannot keep the budget for a whole delivery.
 *
 * Pure: no AWS, no I/O; one instance per sandbox (lambda/handlers/createWorker.ts).
 */

export interface PayloadLease {
  /** The bytes this lease holds now. */
  readonly bytes: number;
  /**
   * Holds only `bytes` from now on when that is fewer (a payload smaller than its declared size,
   * once read), handing the rest back and waking whoever fits now. Never grows; ignored once released.
   */
  shrinkTo(bytes: number): void;
  /** Hands the bytes back and wakes whoever fits now. Idempotent. */
  release(): void;
}

export interface AcquireOptions {
  /** Give up after this many milliseconds of waiting (a lease granted at once never times out). @default no limit */
  readonly timeoutMs?: number | undefined;
}

/** The wait ran past its deadline: nothing is held. */
export class PayloadBudgetTimeout extends Error {
  public constructor(
    readonly bytes: number,
    readonly waitedMs: number,
  ) {
    super(`waited ${Math.round(waitedMs)} ms for ${bytes.toLocaleString('en-US')} bytes of the sandbox's payload budget`);
    this.name = 'PayloadBudgetTimeout';
  }
}

interface Waiter {
  readonly bytes: number;
  readonly grant: (lease: PayloadLease) => void;
  timer?: ReturnType<typeof setTimeout> | undefined;
}

export class PayloadBudget {
  private heldBytes = 0;
  private peak = 0;
  private readonly queue: Waiter[] = [];

  /** @param limitBytes the bytes held at once (a positive whole number) */
  public constructor(readonly limitBytes: number) {
    if (!Number.isSafeInteger(limitBytes) || limitBytes < 1) throw new RangeError(`payload budget must be a positive whole number of bytes (got ${limitBytes})`);
  }

  /** Bytes held by granted leases now. */
  public get held(): number {
    return this.heldBytes;
  }

  /** The most bytes ever held at once (for tests and the bench). */
  public get peakHeld(): number {
    return this.peak;
  }

  /** Records waiting for their turn. */
  public get waiting(): number {
    return this.queue.length;
  }

  /**
   * A lease on `bytes`, at once when nobody waits and it fits (or nothing is held), else when its
   * turn comes. @throws PayloadBudgetTimeout (rejects) when `timeoutMs` passes first.
   */
  public acquire(bytes: number, options: AcquireOptions = {}): Promise<PayloadLease> {
    if (!Number.isSafeInteger(bytes) || bytes < 0) return Promise.reject(new RangeError(`payload size must be a whole number of bytes (got ${bytes})`));
    if (this.queue.length === 0 && this.fits(bytes)) return Promise.resolve(this.grant(bytes));
    return new Promise<PayloadLease>((resolve, reject) => {
      const started = Date.now();
      const waiter: Waiter = { bytes, grant: resolve };
      this.queue.push(waiter);
      const timeoutMs = options.timeoutMs;
      if (timeoutMs !== undefined) {
        waiter.timer = setTimeout(
          () => {
            const at = this.queue.indexOf(waiter);
            if (at < 0) return;
            this.queue.splice(at, 1);
            reject(new PayloadBudgetTimeout(bytes, Date.now() - started));
            // It may have been the head that held the others back.
            this.drain();
          },
          Math.max(0, timeoutMs),
        );
      }
    });
  }

  private fits(bytes: number): boolean {
    return this.heldBytes === 0 || this.heldBytes + bytes <= this.limitBytes;
  }

  private grant(bytes: number): PayloadLease {
    this.heldBytes += bytes;
    if (this.heldBytes > this.peak) this.peak = this.heldBytes;
    let released = false;
    let holding = bytes;
    return {
      get bytes() {
        return holding;
      },
      shrinkTo: (fewer: number) => {
        if (released || !(fewer >= 0) || fewer >= holding) return;
        this.heldBytes -= holding - Math.floor(fewer);
        holding = Math.floor(fewer);
        this.drain();
      },
      release: () => {
        if (released) return;
        released = true;
        this.heldBytes -= holding;
        this.drain();
      },
    };
  }

  /** Grants waiters from the head, in order, while the head fits. */
  private drain(): void {
    while (this.queue.length > 0 && this.fits(this.queue[0]!.bytes)) {
      const waiter = this.queue.shift()!;
      if (waiter.timer) clearTimeout(waiter.timer);
      waiter.grant(this.grant(waiter.bytes));
    }
  }
}

/** The stack's default `memorySize`, assumed when AWS_LAMBDA_FUNCTION_MEMORY_SIZE is not set (local runs). */
export const DEFAULT_FUNCTION_MEMORY_MB = 512;
/**
 * MB of the function's memory not given to payloads: the runtime, the bundle, SDK clients and SMTP
 * sessions (~140 MB RSS with small messages) plus the heap growth the first large payload brings
 * (~60 MB). Measured with the bench's payloads phase, docs/payloads.md "Memory".
 */
export const RESERVED_MEMORY_MB = 200;
/**
 * Peak RSS, in MB, per MiB of payload held: body + parsed JSON + composed MIME + base64 + DKIM,
 * and the garbage the GC has not taken yet. Measured: one 6.67 MiB body peaks at 263 MB, one
 * 26.67 MiB body at 439 MB (8.8 MB per MiB between them), rounded up (docs/payloads.md "Memory").
 */
export const PAYLOAD_AMPLIFICATION = 9;
/** The smallest budget: below one payload, payloads simply run one at a time. */
const MIN_BUDGET_BYTES = 1_048_576;

/** The default budget of a function with `memoryMb`: what is left after the reserve, divided by the amplification. */
export function payloadBudgetForMemory(memoryMb: number): number {
  return Math.max(MIN_BUDGET_BYTES, Math.floor(((memoryMb - RESERVED_MEMORY_MB) / PAYLOAD_AMPLIFICATION) * 1_048_576));
}
