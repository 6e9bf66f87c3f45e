/**
 * The auth hook module bundled when the stack names none (`authHook.entry`): no hook. The handler
 * imports it as `#auth-hook` (package.json `imports`); the stack's esbuild build aliases
 * `#auth-hook` to the operator's module instead, so the hook is bundled statically.
 */
import type { OutboundSmtpAuthConfig } from '../core/authHook/types.js';

export const outboundSmtpAuthConfig: OutboundSmtpAuthConfig | undefined = undefined;
