/**
 * The invocation's group commit of settles (lambda/worker/settleBatch.ts): when a write goes out,
 * what it carries, and where a failed write is reported.
 */
import { describe, expect, it } from 'vitest';
import type { SettledRecord, SettleEntry, SettleFailure } from '../../../lambda/core/ports.js';
import { SettleBatch } from '../../../lambda/worker/settleBatch.js';

const delivered = (to: string): SettledRecord => ({ status: 'delivered', delivered: [to], failed: [] });
const pending = (to: string): SettledRecord => ({ status: 'pending', delivered: [to], failed: [] });

function recorder(fail: (entries: readonly SettleEntry[]) => readonly SettleFailure[] | Error = () => []) {
  const writes: string[][] = [];
  const write = async (entries: readonly SettleEntry[]): Promise<readonly SettleFailure[]> => {
    writes.push(entries.map((e) => `${e.key}:${e.record.status}`));
    await new Promise((resolve) => setImmediate(resolve));
    const result = fail(entries);
    if (result instanceof Error) throw result;
    return result;
  };
  return { writes, write };
}

describe('SettleBatch', () => {
  it('queues delivered and dead-lettered records without writing, then writes them in one request on flush', async () => {
    const { writes, write } = recorder();
    const batch = new SettleBatch({ write });
    await batch.add('a', delivered('x@example.net'), () => undefined);
    await batch.add('b', { status: 'dead-lettered', delivered: [], failed: ['y@example.net'] }, () => undefined);
    expect(writes).toEqual([]);
    await batch.flush();
    expect(writes).toEqual([['a:delivered', 'b:dead-lettered']]);
    await batch.flush();
    expect(writes).toHaveLength(1);
  });

  it('writes a pending record (a retry follows) before resolving, taking what is queued along', async () => {
    const { writes, write } = recorder();
    const batch = new SettleBatch({ write });
    await batch.add('a', delivered('x@example.net'), () => undefined);
    await batch.add('b', pending('y@example.net'), () => undefined);
    // Resolved only after the write: already in the log.
    expect(writes).toEqual([['a:delivered', 'b:pending']]);
    await batch.flush();
    expect(writes).toHaveLength(1);
  });

  it('sends a full request at once and never more than maxItems per request', async () => {
    const { writes, write } = recorder();
    const batch = new SettleBatch({ write, maxItems: 3 });
    for (const key of ['a', 'b', 'c', 'd']) await batch.add(key, delivered(`${key}@example.net`), () => undefined);
    expect(writes).toEqual([['a:delivered', 'b:delivered', 'c:delivered']]);
    await batch.flush();
    expect(writes).toEqual([['a:delivered', 'b:delivered', 'c:delivered'], ['d:delivered']]);
  });

  it('keeps the later record of a key queued twice', async () => {
    const { writes, write } = recorder();
    const batch = new SettleBatch({ write });
    await batch.add('a', delivered('x@example.net'), () => undefined);
    await batch.add('a', { status: 'dead-lettered', delivered: [], failed: [] }, () => undefined);
    await batch.flush();
    expect(writes).toEqual([['a:dead-lettered']]);
  });

  it('reports each entry the store could not write to that entry only, and a rejected write to every entry in it', async () => {
    const failedKeys: string[] = [];
    const { write } = recorder((entries) => entries.filter((e) => e.key === 'b').map((e) => ({ key: e.key, error: new Error('throttled') })));
    const batch = new SettleBatch({ write });
    for (const key of ['a', 'b', 'c']) await batch.add(key, delivered(`${key}@example.net`), (error) => failedKeys.push(`${key}:${(error as Error).message}`));
    await batch.flush();
    expect(failedKeys).toEqual(['b:throttled']);

    const broken = new SettleBatch({ write: recorder(() => new Error('socket hang up')).write });
    const reported: string[] = [];
    await broken.add('d', delivered('d@example.net'), (error) => reported.push(`d:${(error as Error).message}`));
    await broken.add('e', pending('e@example.net'), (error) => reported.push(`e:${(error as Error).message}`));
    await broken.flush();
    expect(reported).toEqual(['d:socket hang up', 'e:socket hang up']);
  });

  it('flush waits for a write already in flight', async () => {
    let release: () => void = () => undefined;
    const writes: string[] = [];
    const batch = new SettleBatch({
      maxItems: 1,
      write: async (entries) => {
        await new Promise<void>((resolve) => (release = resolve));
        writes.push(entries[0]!.key);
        return [];
      },
    });
    await batch.add('a', delivered('a@example.net'), () => undefined);
    const flushed = batch.flush();
    await new Promise((resolve) => setImmediate(resolve));
    expect(writes).toEqual([]);
    release();
    await flushed;
    expect(writes).toEqual(['a']);
  });
});
