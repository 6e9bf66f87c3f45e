/**
 * Group commit of one invocation's idempotency settles (docs/design.md §3): instead of one write
 * per record, the records of a batch are settled together — one BatchWriteItem per 25 records on
 * DynamoDB (IdempotencyStore.settleMany).
 *
 * Why deferring is safe: every key is held by this invocation's claim until it is settled (the
 * lease runs 60 s past the invocation's deadline), and processBatch writes everything before it
 * returns, so SQS deletes a record only after its state is on record — the same order as a
 * settle per record. The writes are unconditional, as the per-record settle always was.
 *
 * When a write waits:
 * - a record that ends `delivered` or `dead-lettered` is queued and its lane moves on: nothing
 *   after it in the record's life depends on the write, and the batch flushes before returning;
 * - a record left `pending` (a retry) is written before its lane goes on, since a retry's
 *   visibility change may bring the message back before the batch ends: its state must be on
 *   record by then. It takes everything queued along in the same request;
 * - a full request (25 records) is sent at once.
 * A write that fails is reported to the record's `onFailure` (the "could not record delivery
 * state" path); the record's outcome stands, as with a failed per-record settle.
 */
import type { SettledRecord, SettleEntry, SettleFailure } from '../core/ports.js';

export interface SettleBatchOptions {
  /** Writes the entries; returns those that were not written (IdempotencyStore.settleMany). */
  readonly write: (entries: readonly SettleEntry[]) => Promise<readonly SettleFailure[]>;
  /** Records per write. @default 25 (BatchWriteItem's limit) */
  readonly maxItems?: number;
}

interface Queued {
  readonly record: SettledRecord;
  readonly onFailure: (error: unknown) => void;
}

export class SettleBatch {
  private queued = new Map<string, Queued>();
  private readonly writing = new Set<Promise<void>>();
  private readonly maxItems: number;

  public constructor(private readonly options: SettleBatchOptions) {
    this.maxItems = options.maxItems ?? 25;
  }

  /**
   * Queue `record` for `key`. Resolves at once for a terminal status (delivered, dead-lettered),
   * after the write for `pending`. A later record for the same key replaces a queued one.
   */
  public add(key: string, record: SettledRecord, onFailure: (error: unknown) => void): Promise<void> {
    this.queued.set(key, { record, onFailure });
    if (record.status === 'pending') return this.send();
    if (this.queued.size >= this.maxItems) void this.send();
    return Promise.resolve();
  }

  /** Write everything queued and wait for every write in flight. Never rejects. */
  public async flush(): Promise<void> {
    if (this.queued.size > 0) void this.send();
    while (this.writing.size > 0) await Promise.all([...this.writing]);
  }

  /** Send what is queued, in requests of at most `maxItems`. */
  private send(): Promise<void> {
    const batch = this.queued;
    this.queued = new Map();
    const entries = [...batch];
    const requests: Promise<void>[] = [];
    for (let i = 0; i < entries.length; i += this.maxItems) requests.push(this.write(entries.slice(i, i + this.maxItems)));
    return Promise.all(requests).then(() => undefined);
  }

  private write(entries: readonly [string, Queued][]): Promise<void> {
    const report = (key: string, error: unknown): void => {
      const queued = entries.find(([k]) => k === key)?.[1];
      try {
        queued?.onFailure(error);
      } catch {
        // a logger that throws must not stop the batch
      }
    };
    const done = this.options
      .write(entries.map(([key, { record }]) => ({ key, record })))
      .then(
        (failures) => {
          for (const failure of failures) report(failure.key, failure.error);
        },
        (error: unknown) => {
          for (const [key] of entries) report(key, error);
        },
      )
      .finally(() => this.writing.delete(done));
    this.writing.add(done);
    return done;
  }
}
