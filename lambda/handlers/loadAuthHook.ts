/**
 * Loads an auth hook module from a file at run time (`npm start -- --auth-hook FILE`,
 * `mailrelay worker --auth-hook FILE`); the Lambda bundles its hook statically instead.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AuthHookModule, OutboundSmtpAuthConfig } from '../core/authHook/types.js';

/**
 * @throws Error naming the file when it does not exist, cannot be imported, or exports no
 *   function `outboundSmtpAuthConfig`.
 */
export async function loadAuthHook(file: string, cwd = process.cwd()): Promise<AuthHookModule> {
  const path = resolve(cwd, file);
  if (!existsSync(path)) throw new Error(`auth hook ${file}: no such file`);
  let loaded: Record<string, unknown>;
  try {
    loaded = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (error) {
    throw new Error(`auth hook ${file}: could not be loaded: ${(error as Error).message}`, { cause: error });
  }
  const fn = loaded['outboundSmtpAuthConfig'] ?? (loaded['default'] as Record<string, unknown> | undefined)?.['outboundSmtpAuthConfig'];
  if (typeof fn !== 'function') throw new Error(`auth hook ${file}: exports no function outboundSmtpAuthConfig(context)`);
  return { outboundSmtpAuthConfig: fn as OutboundSmtpAuthConfig };
}
