/**
 * Code a sandbox may never need, loaded on first use: the S3 client (only pointer messages need
 * it), the Lambda client (only function auth hooks) and the SSM client (only `parameter`
 * keysources). The deployed bundle is split at these `import()`s (infra/relayBundle.ts), so a cold
 * start neither reads nor compiles them; the first message that needs one pays for its import
 * once per sandbox (docs/performance.md "Cold start").
 */

/** Calls `load` once, on first use; a failed load is not kept, the next use tries again. */
export function once<T>(load: () => Promise<T>): () => Promise<T> {
  let loaded: Promise<T> | undefined;
  return () => {
    loaded ??= load().catch((error: unknown) => {
      loaded = undefined;
      throw error;
    });
    return loaded;
  };
}

/** An SDK client's `send`, building the client (and importing its module) on the first call. */
export function lazySend<C extends { send: (...args: never[]) => Promise<unknown> }>(load: () => Promise<C>): Pick<C, 'send'> {
  const client = once(load);
  const send = async (...args: Parameters<C['send']>): Promise<unknown> => {
    const loaded = await client();
    return (loaded.send as (...a: Parameters<C['send']>) => Promise<unknown>)(...args);
  };
  return { send } as Pick<C, 'send'>;
}
