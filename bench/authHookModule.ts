/**
 * The bench's module hook (bench/authHook.ts), bundled into the handler in place of `#auth-hook`
 * the way the stack bundles `authHook.entry`: it answers each tenant's relay user and password for
 * the message's `auth.key` (`tenant-<n>`), as an operator's hook answers from its own data store.
 *
 * - BENCH_AUTH_HOOK_RUN_ID: the run's id, from which the relay's passwords derive (bench/workload.ts).
 * - BENCH_AUTH_HOOK_DELAY_MS: a wait before each answer, standing in for a slow lookup (0: none).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { OutboundSmtpAuthConfig } from '../lambda/core/authHook/types.js';
import { routePassword, routeUser } from './workload.js';

const runId = process.env['BENCH_AUTH_HOOK_RUN_ID'] ?? '';
const delayMs = Number(process.env['BENCH_AUTH_HOOK_DELAY_MS'] ?? '0') || 0;

export const outboundSmtpAuthConfig: OutboundSmtpAuthConfig = async (context, { signal }) => {
  const tenant = /^tenant-(\d+)$/.exec(context.auth.key ?? '');
  if (!tenant) return undefined;
  if (delayMs > 0) await sleep(delayMs, undefined, { signal });
  const n = Number(tenant[1]);
  return { type: 'PLAIN', user: routeUser(n), pass: routePassword(runId, n) };
};
