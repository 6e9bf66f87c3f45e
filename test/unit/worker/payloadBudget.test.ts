/**
 * The sandbox's payload budget (lambda/worker/payloadBudget.ts) and its use by a record's life
 * (lambda/worker/payload.ts resolveBody, processRecord): FIFO, a payload larger than the budget
 * runs alone, every lease is released once whatever the record's outcome, and a wait that runs
 * into the invocation's end defers the record.
 */
import { describe, expect, it } from 'vitest';
import { PermanentDeliveryError, TransientDeliveryError } from '../../../lambda/core/errors.js';
import { formatPayloadPointer } from '../../../lambda/core/payloads.js';
import type { ClaimResult, IdempotencyStore, PayloadStore } from '../../../lambda/core/ports.js';
import { PayloadBudget, PayloadBudgetTimeout, payloadBudgetForMemory, type PayloadLease } from '../../../lambda/worker/payloadBudget.js';
import { processRecord, type WorkerDependencies } from '../../../lambda/worker/processRecord.js';
import { readSettings } from '../../../lambda/worker/settings.js';
import type { QueueRecord } from '../../../lambda/worker/types.js';
import { MemoryConfigStore, MemoryDeadLetterQueue, MemorySecretSource } from '../../helpers/memoryPorts.js';
import { SmtpPool } from '../../../lambda/core/smtp/pool.js';

const MiB = 1_048_576;
/** Lets every settled promise's callbacks run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

/** Acquires and records the order in which leases were granted. */
function tracker(budget: PayloadBudget) {
  const granted: string[] = [];
  const leases = new Map<string, PayloadLease>();
  const take = (name: string, bytes: number, timeoutMs?: number) =>
    budget.acquire(bytes, { timeoutMs }).then((lease) => {
      granted.push(name);
      leases.set(name, lease);
      return lease;
    });
  return { granted, leases, take };
}

describe('PayloadBudget', () => {
  it('grants at once while payloads fit, then makes the rest wait until bytes come back', async () => {
    const budget = new PayloadBudget(10);
    const { granted, leases, take } = tracker(budget);
    void take('a', 4);
    void take('b', 6);
    void take('c', 3);
    await settle();
    expect(granted).toEqual(['a', 'b']);
    expect(budget.held).toBe(10);
    expect(budget.waiting).toBe(1);

    leases.get('a')!.release();
    await settle();
    expect(granted).toEqual(['a', 'b', 'c']);
    expect(budget.held).toBe(9);
    expect(budget.peakHeld).toBe(10);
  });

  it('is FIFO: a small payload does not overtake a large one that waits before it', async () => {
    const budget = new PayloadBudget(10);
    const { granted, leases, take } = tracker(budget);
    void take('a', 6);
    void take('big', 8);
    void take('small', 1); // would fit beside a, but big is first in line
    await settle();
    expect(granted).toEqual(['a']);

    leases.get('a')!.release();
    await settle();
    expect(granted).toEqual(['a', 'big', 'small']);
    expect(budget.held).toBe(9);
  });

  it('runs a payload larger than the whole budget alone: once nothing is held, and nothing beside it', async () => {
    const budget = new PayloadBudget(10);
    const { granted, leases, take } = tracker(budget);
    void take('a', 2);
    void take('huge', 25);
    void take('b', 1);
    await settle();
    expect(granted).toEqual(['a']);

    leases.get('a')!.release();
    await settle();
    expect(granted).toEqual(['a', 'huge']);
    expect(budget.held).toBe(25);

    leases.get('huge')!.release();
    await settle();
    expect(granted).toEqual(['a', 'huge', 'b']);
    // Alone when nothing else waits, too: never refused for its size.
    const alone = await new PayloadBudget(10).acquire(40 * MiB);
    expect(alone.bytes).toBe(40 * MiB);
  });

  it('releases a lease once: a second release hands nothing back', async () => {
    const budget = new PayloadBudget(10);
    const { granted, leases, take } = tracker(budget);
    void take('a', 5);
    void take('b', 5);
    void take('c', 5);
    void take('d', 5);
    await settle();
    leases.get('a')!.release();
    leases.get('a')!.release();
    await settle();
    expect(granted).toEqual(['a', 'b', 'c']);
    expect(budget.held).toBe(10);
    expect(budget.waiting).toBe(1);
  });

  it('a wait that outlasts its timeout is rejected and leaves the line; the one behind it moves up', async () => {
    const budget = new PayloadBudget(10);
    const { granted, leases, take } = tracker(budget);
    void take('a', 6);
    const late = take('late', 8, 0).catch((error: unknown) => error);
    void take('next', 4);
    expect(await late).toBeInstanceOf(PayloadBudgetTimeout);
    await settle();
    expect(granted).toEqual(['a', 'next']);
    expect(budget.held).toBe(10);
    leases.get('a')!.release();
    expect(budget.held).toBe(4);
    expect(budget.waiting).toBe(0);
  });

  it('a lease shrinks (never grows): the bytes handed back wake the waiters that fit now; release hands back only what is left', async () => {
    const budget = new PayloadBudget(10);
    const { granted, leases, take } = tracker(budget);
    void take('a', 8);
    void take('b', 5);
    await settle();
    expect(granted).toEqual(['a']);
    leases.get('a')!.shrinkTo(20);
    expect([leases.get('a')!.bytes, budget.held]).toEqual([8, 8]);
    leases.get('a')!.shrinkTo(3);
    await settle();
    expect(granted).toEqual(['a', 'b']);
    expect([leases.get('a')!.bytes, budget.held]).toEqual([3, 8]);
    leases.get('a')!.release();
    leases.get('a')!.shrinkTo(0);
    expect(budget.held).toBe(5);
  });

  it('refuses a budget or a size that is not a whole number of bytes', async () => {
    expect(() => new PayloadBudget(0)).toThrow(/positive whole number/);
    await expect(new PayloadBudget(10).acquire(-1)).rejects.toThrow(/whole number of bytes/);
  });
});

describe('the default budget and PAYLOAD_BUDGET_MIB', () => {
  const env = { CONFIG_TABLE_NAME: 'c', IDEMPOTENCY_TABLE_NAME: 'i', DEAD_LETTER_QUEUE_URL: 'd' };

  it('derives the budget from AWS_LAMBDA_FUNCTION_MEMORY_SIZE, or the stack default of 512 MB', () => {
    expect(readSettings({ ...env, AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '2048' }).payloadBudgetBytes).toBe(payloadBudgetForMemory(2048));
    expect(readSettings(env).payloadBudgetBytes).toBe(payloadBudgetForMemory(512));
    expect(payloadBudgetForMemory(2048)).toBeGreaterThan(payloadBudgetForMemory(512));
    // A tiny function still gets a budget: payloads run one at a time.
    expect(payloadBudgetForMemory(128)).toBe(MiB);
  });

  it('PAYLOAD_BUDGET_MIB overrides it; a bad value is an error naming the variable', () => {
    expect(readSettings({ ...env, PAYLOAD_BUDGET_MIB: '64', AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '2048' }).payloadBudgetBytes).toBe(64 * MiB);
    expect(() => readSettings({ ...env, PAYLOAD_BUDGET_MIB: 'lots' })).toThrow(/PAYLOAD_BUDGET_MIB must be a number from 1 to 10240 \(got "lots"\)/);
    expect(() => readSettings({ ...env, PAYLOAD_BUDGET_MIB: '0' })).toThrow(/PAYLOAD_BUDGET_MIB must be a number/);
    expect(() => readSettings({ ...env, AWS_LAMBDA_FUNCTION_MEMORY_SIZE: 'big' })).toThrow(/AWS_LAMBDA_FUNCTION_MEMORY_SIZE must be a number from 128 to 10240 \(got "big"\)/);
  });
});

describe('a record holds the budget from before the read until it is done', () => {
  const BUCKET = 'payload-bucket';
  const valid = JSON.stringify({ idempotencyKey: 'k1', from: 'billing@acme.example', to: ['bob@example.net'], subject: 's', text: 't' });

  /** A store whose reads can be held open, with what was held of the budget at each read. */
  function world(options: { objects: Record<string, string>; claim?: (key: string) => Promise<ClaimResult>; readError?: Error; budgetBytes?: number }) {
    const budget = new PayloadBudget(options.budgetBytes ?? 100);
    const calls: string[] = [];
    const heldAtRead: number[] = [];
    const store: PayloadStore = {
      async read(_bucket, key, maxBytes) {
        calls.push(`GET ${key} ≤${maxBytes}`);
        heldAtRead.push(budget.held);
        if (options.readError) throw options.readError;
        const body = options.objects[key] ?? '';
        return Buffer.byteLength(body) > maxBytes ? { kind: 'too-large', bytes: Buffer.byteLength(body) } : { kind: 'found', body };
      },
      async size(_bucket, key) {
        calls.push(`HEAD ${key}`);
        return Buffer.byteLength(options.objects[key] ?? '');
      },
      async delete(_bucket, key) {
        calls.push(`DELETE ${key}`);
      },
    };
    const idempotency: IdempotencyStore = {
      claim: options.claim ?? (async () => ({ outcome: 'duplicate', previous: { status: 'delivered', delivered: ['bob@example.net'], failed: [] } })),
      settle: async () => undefined,
    };
    const logs: string[] = [];
    const log = (message: string) => void logs.push(message);
    const dlq = new MemoryDeadLetterQueue();
    const deps: WorkerDependencies = {
      config: new MemoryConfigStore({}),
      secrets: new MemorySecretSource(),
      pool: new SmtpPool({}),
      idempotency,
      deadLetters: dlq,
      logger: { debug: log, info: log, warn: log, error: log },
      metrics: { addMetric: () => undefined },
      maxReceiveCount: 3,
      claimLeaseMs: 60_000,
      payloads: { bucket: BUCKET, store, budget },
    };
    return { budget, calls, heldAtRead, deps, dlq, logs };
  }
  const pointerRecord = (key: string, declared?: number, receiveCount = 1): QueueRecord => ({
    messageId: `sqs-${key}`,
    receiptHandle: 'rh',
    body: formatPayloadPointer({ bucket: BUCKET, key }),
    attributes: { ApproximateReceiveCount: String(receiveCount) },
    ...(declared !== undefined ? { messageAttributes: { ExtendedPayloadSize: { stringValue: String(declared) } } } : {}),
  });

  it('acquires the declared size before the read (no HEAD) and releases it after a duplicate', async () => {
    const w = world({ objects: { k: valid } });
    const size = Buffer.byteLength(valid);
    expect(await processRecord(pointerRecord('k', size), w.deps)).toBe('duplicate');
    expect(w.calls).toEqual([`GET k ≤${size}`]);
    expect(w.heldAtRead).toEqual([size]);
    expect(w.budget.held).toBe(0);
  });

  it('without ExtendedPayloadSize, asks S3 the size (HEAD) before reading', async () => {
    const w = world({ objects: { k: valid } });
    await processRecord(pointerRecord('k'), w.deps);
    expect(w.calls).toEqual(['HEAD k', `GET k ≤${Buffer.byteLength(valid)}`]);
    expect(w.budget.held).toBe(0);
  });

  it('an object larger than declared is not read with the small lease: its real size is acquired, then it is read', async () => {
    const w = world({ objects: { k: valid } });
    const size = Buffer.byteLength(valid);
    expect(await processRecord(pointerRecord('k', 10), w.deps)).toBe('duplicate');
    expect(w.calls).toEqual(['GET k ≤10', `GET k ≤${size}`]);
    expect(w.heldAtRead).toEqual([10, size]);
    expect(w.budget.held).toBe(0);
  });

  it('an inflated ExtendedPayloadSize holds the budget only until the read: then the bytes read, so other records are not starved', async () => {
    const w = world({ objects: { liar: valid, other: valid }, budgetBytes: 1000 });
    const { resolveBody } = await import('../../../lambda/worker/payload.js');
    const liar = await resolveBody(pointerRecord('liar', 40 * MiB), { ...w.deps, payloadWaitMs: () => 0 });
    expect(liar.lease?.bytes).toBe(Buffer.byteLength(valid));
    expect(w.budget.held).toBe(Buffer.byteLength(valid));
    // Another record of the batch while the liar is still being relayed: no wait (payloadWaitMs 0 would defer it).
    expect(await processRecord(pointerRecord('other', 50), { ...w.deps, payloadWaitMs: () => 0 })).toBe('duplicate');
    liar.lease!.release();
    expect(w.budget.held).toBe(0);
  });

  it.each([
    ['an invalid body in the object (dead-lettered after the read)', { objects: { k: '{"from":' } }, 'dead-lettered'],
    ['an object that cannot be read (retried)', { objects: {}, readError: new TransientDeliveryError('s3 down', { reason: 'aws-error' }) }, 'retry'],
    ['another invocation holding the key (retried)', { objects: { k: valid }, claim: async (): Promise<ClaimResult> => ({ outcome: 'busy' }) }, 'retry'],
    ['the idempotency table failing (retried)', { objects: { k: valid }, claim: () => Promise.reject(new Error('table down')) }, 'retry'],
  ])('releases after %s', async (_label, options, outcome) => {
    const w = world(options);
    const size = Buffer.byteLength((options.objects as Record<string, string>)['k'] ?? '') || 40;
    expect(await processRecord(pointerRecord('k', size), w.deps)).toBe(outcome);
    expect(w.heldAtRead).toEqual([size]);
    expect(w.budget.held).toBe(0);
  });

  it('a missing object of a pointer recorded as relayed is a duplicate; never recorded, payload-missing; the record unreadable, a retry', async () => {
    const missing = new PermanentDeliveryError('reading the payload s3://payload-bucket/k: NoSuchKey', { reason: 'payload-missing' });
    const claims: string[] = [];
    const claimOf = (result: () => Promise<ClaimResult>) => async (key: string) => {
      claims.push(key);
      return result();
    };
    const relayed = world({ objects: {}, readError: missing, claim: claimOf(async () => ({ outcome: 'duplicate', previous: { status: 'delivered', delivered: [], failed: [] } })) });
    expect(await processRecord(pointerRecord('k', 40), relayed.deps)).toBe('duplicate');
    expect(relayed.dlq.entries).toEqual([]);
    expect(claims).toEqual([`#payload#${BUCKET}/k`]);

    const never = world({ objects: {}, readError: missing, claim: async () => ({ outcome: 'claimed' }) });
    expect(await processRecord(pointerRecord('k', 40), never.deps)).toBe('dead-lettered');
    expect(never.dlq.entries[0]?.reason).toMatchObject({ reason: 'payload-missing' });

    const unknown = world({ objects: {}, readError: missing, claim: () => Promise.reject(new TransientDeliveryError('table throttled', { reason: 'aws-throttled' })) });
    expect(await processRecord(pointerRecord('k', 40), unknown.deps)).toBe('retry');
    expect(unknown.dlq.entries).toEqual([]);
    expect(await processRecord(pointerRecord('k', 40, 3), unknown.deps)).toBe('dead-lettered');
    expect(unknown.dlq.entries[0]?.reason).toMatchObject({ reason: 'retries-exhausted:aws-throttled', detail: expect.stringMatching(/NoSuchKey; whether it was relayed before could not be read/) });
    expect(unknown.budget.held).toBe(0);
  });

  it('releases when the record throws out of processRecord, from the read or after it', async () => {
    const fromRead = world({ objects: {}, readError: new Error('a bug in the store') });
    await expect(processRecord(pointerRecord('k', 40), fromRead.deps)).rejects.toThrow('a bug in the store');
    expect(fromRead.budget.held).toBe(0);

    const after = world({ objects: { k: valid } });
    const deps = { ...after.deps, metrics: { addMetric: () => { throw new Error('metrics broke'); } } };
    await expect(processRecord(pointerRecord('k', Buffer.byteLength(valid)), deps)).rejects.toThrow('metrics broke');
    expect(after.heldAtRead).toEqual([Buffer.byteLength(valid)]);
    expect(after.budget.held).toBe(0);
  });

  it('a record waiting when the invocation runs low on time is deferred, not failed; on its last receive it is dead-lettered with the reason', async () => {
    const w = world({ objects: { k: valid }, budgetBytes: 100 });
    const blocker = await w.budget.acquire(100);
    const deps = { ...w.deps, payloadWaitMs: () => 0 };

    expect(await processRecord(pointerRecord('k', 50), deps)).toBe('retry');
    expect(w.calls).toEqual([]);
    expect(w.logs).toContain('no payload budget before the invocation ran low on time; will retry');
    expect(w.dlq.entries).toEqual([]);

    expect(await processRecord(pointerRecord('k', 50, 3), deps)).toBe('dead-lettered');
    expect(w.dlq.entries[0]?.reason).toMatchObject({ reason: 'retries-exhausted:out-of-time', detail: expect.stringMatching(/payload budget/) });
    expect(w.calls).toEqual([]);
    blocker.release();
    expect(w.budget.held).toBe(0);
  });
});
