export { applyHookAnswer, parseHookAnswer, type HookAuth } from './answer.js';
export { HookSecret, fingerprintSecret } from './hookSecret.js';
export {
  AuthHookRunner,
  DEFAULT_AUTH_HOOK_CACHE_SIZE,
  DEFAULT_AUTH_HOOK_CACHE_TTL_MS,
  DEFAULT_AUTH_HOOK_TIMEOUT_MS,
  HOOK_ORIGIN,
  hookContext,
  type AuthHookRunnerOptions,
  type AuthHookStats,
  type HookMessage,
  type HookedRoute,
} from './runner.js';
export type { AuthHookAnswer, AuthHookContext, AuthHookInvoker, AuthHookModule, OutboundSmtpAuthConfig } from './types.js';
