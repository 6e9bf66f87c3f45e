import { describe, expect, it, vi } from 'vitest';
import { lazySend, once } from '../../../lambda/adapters/lazy.js';

describe('once', () => {
  it('loads on first use, then hands out the same value without loading again', async () => {
    const load = vi.fn(async () => ({ id: Math.random() }));
    const get = once(load);
    expect(load).not.toHaveBeenCalled();
    const [a, b] = await Promise.all([get(), get()]);
    expect(a).toBe(b);
    expect(await get()).toBe(a);
    expect(load).toHaveBeenCalledTimes(1);
  });

  it('does not keep a failed load: the next use tries again', async () => {
    let calls = 0;
    const get = once(async () => {
      calls += 1;
      if (calls === 1) throw new Error('import failed');
      return 'loaded';
    });
    await expect(get()).rejects.toThrow('import failed');
    await expect(get()).resolves.toBe('loaded');
    expect(calls).toBe(2);
  });
});

describe('lazySend', () => {
  it('builds the client on the first send only, and passes every argument through', async () => {
    const send = vi.fn(async (command: { name: string }, options?: { abortSignal?: AbortSignal }) => ({ echoed: command.name, signal: options?.abortSignal }));
    const build = vi.fn(async () => ({ send }));
    const client = lazySend(build);
    expect(build).not.toHaveBeenCalled();
    const signal = new AbortController().signal;
    await expect(client.send({ name: 'Get' }, { abortSignal: signal })).resolves.toEqual({ echoed: 'Get', signal });
    await expect(client.send({ name: 'Put' })).resolves.toEqual({ echoed: 'Put', signal: undefined });
    expect(build).toHaveBeenCalledTimes(1);
    expect(send).toHaveBeenCalledTimes(2);
  });
});
