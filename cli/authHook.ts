/**
 * The auth hook in the CLI (docs/auth-hook.md): `config explain` and `check` run a route through
 * it as the worker would, with a sample message (metadata only: there is no body to hand over).
 * The module comes from `--auth-hook FILE`; a route's `auth.hookFunction` is invoked through the
 * target's Lambda client.
 */
import { LambdaAuthHookInvoker } from '../lambda/adapters/lambdaAuthHookInvoker.js';
import { AuthHookRunner, type HookMessage } from '../lambda/core/authHook/runner.js';
import type { AuthHookInvoker } from '../lambda/core/authHook/types.js';
import type { RouteGroup } from '../lambda/core/config/resolve.js';
import { loadAuthHook } from '../lambda/handlers/loadAuthHook.js';
import { UsageError } from './errors.js';
import type { RouteQuery } from './routing.js';
import type { Target } from './target.js';

/** Idempotency key of the sample message the hook sees from the CLI. */
export const SAMPLE_IDEMPOTENCY_KEY = 'mailrelay-cli-sample';

export async function cliAuthHook(command: string, target: Target, file: string | undefined): Promise<AuthHookRunner> {
  let module;
  if (file !== undefined) {
    try {
      module = (await loadAuthHook(file)).outboundSmtpAuthConfig;
    } catch (error) {
      throw new UsageError(`--auth-hook: ${(error as Error).message}`, command, { cause: error });
    }
  }
  const invoker: AuthHookInvoker = { invoke: async (name, context, options) => new LambdaAuthHookInvoker(await target.lambda()).invoke(name, context, options) };
  // No cache: each run asks the hook once per route anyway, and must see its current answer.
  return new AuthHookRunner({ module, invoker, cacheTtlMs: 0 });
}

/** The sample message of a query: its sender, binding and no tags. */
export function sampleMessage(query: RouteQuery): HookMessage {
  const binding = query.binding ?? '';
  return { from: query.from?.address ?? `sample@${binding || 'localhost.invalid'}`, binding, tags: {}, idempotencyKey: SAMPLE_IDEMPOTENCY_KEY };
}

/** A route run through the hook, or the hook's error (a route with no hook comes back as is). */
export async function throughHook(runner: AuthHookRunner, route: RouteGroup, query: RouteQuery): Promise<{ route: RouteGroup; hook?: string | undefined; error?: Error | undefined }> {
  try {
    const hooked = await runner.apply(route, sampleMessage(query));
    return { route: hooked.route, hook: hooked.hook };
  } catch (error) {
    return { route, error: error as Error };
  }
}
