/**
 * `mailrelay check`: resolve a route as the worker would, then connect, STARTTLS, AUTH and QUIT
 * with the worker's own SmtpSession (same TLS and mechanism rules), printing each SMTP step.
 * No mail is sent. Secrets appear as references, never values.
 */
import { AwsSecretSource } from '../../lambda/adapters/awsSecretSource.js';
import type { RouteGroup } from '../../lambda/core/config/resolve.js';
import { buildCredentials } from '../../lambda/core/credentials.js';
import { isDeliveryError, TransientDeliveryError } from '../../lambda/core/errors.js';
import { describeKeysource, resolveKeysource } from '../../lambda/core/keysources.js';
import { createOAuth2TokenProvider } from '../../lambda/core/oauth/index.js';
import { relayRoute } from '../../lambda/core/failover.js';
import { SmtpSession, type SessionCredentials } from '../../lambda/core/smtp/session.js';
import { renderTranscript, transcriptLogger, type Recording, type TranscriptLine } from '../check/transcript.js';
import type { CommandRun } from '../command.js';
import { list, str } from '../command.js';
import { configStore } from '../configStore.js';
import { UsageError } from '../errors.js';
import { printJson } from '../io.js';
import { cliAuthHook, throughHook } from '../authHook.js';
import { queryFromOptions, resolveQuery, withAuthKey } from '../routing.js';
import type { Target } from '../target.js';

/** How long to wait for the relay's reply to QUIT and the end of the connection. */
const QUIT_WAIT_MS = 5_000;

interface RouteCheck {
  readonly label: string;
  readonly recipients: readonly string[];
  readonly ok: boolean;
  readonly verdict: string;
  readonly reason?: string | undefined;
  readonly retryable?: boolean | undefined;
  readonly responseCode?: number | undefined;
  readonly response?: string | undefined;
  readonly tls?: { readonly protocol: string | null; readonly cipher: string | undefined; readonly verified: boolean } | undefined;
  readonly transcript: readonly TranscriptLine[];
}

export const run: CommandRun = async ({ values }, ctx) => {
  const to = list(values['to']);
  if (to.length === 0 && values['binding'] === undefined) throw new UsageError('give --to ADDR or --binding NAME', 'check');
  const query = withAuthKey('check', queryFromOptions('check', { from: str(values['from']), to, binding: str(values['binding']) }), str(values['auth-key']));
  const target = ctx.target();
  const ca = target.relayCa(str(values['ca']));
  const hook = await cliAuthHook('check', target, str(values['auth-hook']));
  const answer = await resolveQuery(query, await configStore(target), { authHook: hook.hasModule });

  const secrets = await secretSource(target);
  const tokens = createOAuth2TokenProvider({ resolveSecret: async (ref, options) => (await resolveKeysource(ref, secrets, options)).secret });
  const checks: RouteCheck[] = [];
  for (const group of answer.routes) {
    // Every relay of a failover list is checked in its order (docs/design.md §2), each through
    // the auth hook first, as the worker does just before AUTH.
    for (const [index, relay] of group.settings.relays.entries()) {
      const { route, hook: hookName, error } = await throughHook(hook, relayRoute(group, relay, index), query);
      if (!ctx.json) printHeader(route, ctx.io.out, index, group.settings.relays.length, hookName);
      const result = error
        ? { label: route.label, recipients: route.recipients.map((r) => r.address), ...failure(error, 'asking the auth hook'), transcript: [] }
        : await checkRoute(route, { secrets, tokens }, ca);
      checks.push(result);
      if (!ctx.json) printResult(result, ctx.io.out);
    }
  }
  const failures = answer.failures.map((f) => ({ recipients: f.recipients.map((r) => r.address), error: f.error.message }));
  if (!ctx.json) {
    for (const f of failures) ctx.io.out(`FAILED: cannot route ${f.recipients.join(', ') || 'this binding'}: ${f.error}\n`);
  }
  const ok = failures.length === 0 && checks.every((c) => c.ok);
  if (ctx.json) printJson(ctx.io, { ok, routes: checks, failures });
  return ok ? 0 : 1;
};

async function secretSource(target: Target): Promise<AwsSecretSource> {
  return new AwsSecretSource({ secretsManager: await target.secretsManager(), ssm: await target.ssm(), prefix: target.secretPrefix, cacheTtlMs: 0 });
}

async function checkRoute(route: RouteGroup, sources: Parameters<typeof buildCredentials>[1], ca: readonly string[]): Promise<RouteCheck> {
  const base = { label: route.label, recipients: route.recipients.map((r) => r.address) };
  const secrets: string[] = [];
  let credentials: SessionCredentials;
  try {
    credentials = remember(await buildCredentials(route.settings.auth, sources), secrets);
  } catch (error) {
    return { ...base, ...failure(error, 'reading the credentials'), transcript: [] };
  }

  const recording: Recording = { lines: [] };
  try {
    const session = await SmtpSession.open({ relay: route.settings.relay, credentials, ca, transcript: transcriptLogger(recording) });
    const tls = session.tls;
    await session.quit(QUIT_WAIT_MS);
    const user = credentials.mechanism === 'NONE' ? undefined : credentials.user;
    const verdict =
      `OK: ${route.settings.relay.host}:${route.settings.relay.port}` +
      (tls ? ` with ${route.settings.relay.tls === 'implicit' ? 'implicit TLS' : 'STARTTLS'} (${tls.protocol ?? 'TLS'}${tls.verified ? ', certificate verified' : ', certificate NOT verified'})` : ' without TLS') +
      (user ? `, AUTH ${credentials.mechanism} as ${user} accepted` : ', no AUTH configured') +
      '; no mail sent';
    return { ...base, ok: true, verdict, tls, transcript: renderTranscript(recording.lines, secrets) };
  } catch (error) {
    return { ...base, ...failure(error, 'checking the relay'), transcript: renderTranscript(recording.lines, secrets) };
  }
}

/** Wraps XOAUTH2's getToken so the tokens it hands out are masked too. */
function remember(credentials: SessionCredentials, secrets: string[]): SessionCredentials {
  if (credentials.mechanism === 'PLAIN' || credentials.mechanism === 'LOGIN') secrets.push(credentials.pass);
  if (credentials.mechanism !== 'XOAUTH2') return credentials;
  return {
    ...credentials,
    getToken: async (renew) => {
      const token = await credentials.getToken(renew);
      secrets.push(token);
      return token;
    },
  };
}

function failure(error: unknown, during: string): Omit<RouteCheck, 'label' | 'recipients' | 'transcript'> {
  if (!isDeliveryError(error)) {
    return { ok: false, verdict: `FAILED: ${during}: ${error instanceof Error ? error.message : String(error)}` };
  }
  const reply = error.response?.trim();
  const text = reply ? (error.responseCode !== undefined && !reply.startsWith(String(error.responseCode)) ? `${error.responseCode} ${reply}` : reply) : error.message;
  return {
    ok: false,
    verdict: `FAILED: ${text}`,
    reason: error.reason,
    retryable: error instanceof TransientDeliveryError,
    responseCode: error.responseCode,
    response: reply,
  };
}

function printHeader(route: RouteGroup, out: (line: string) => void, index = 0, relays = 1, hookName?: string): void {
  const { relay, auth } = route.settings;
  out(`Route: ${route.label}${relays > 1 ? ` (relay ${index + 1} of ${relays}${index > 0 ? ', failover' : ''})` : ''}`);
  if (route.recipients.length) out(`  recipients: ${route.recipients.map((r) => r.address).join(', ')}`);
  out(`  relay:      ${relay.host}:${relay.port}, tls ${relay.tls}${relay.verifyCertificate ? '' : ' (certificate not verified)'}, EHLO ${relay.ehloName}, timeout ${relay.timeoutSeconds} s`);
  const secret = auth.hookPass
    ? `, a literal secret from the hook (fingerprint ${auth.hookPass.fingerprint})`
    : auth.pass
      ? `, password from ${describeKeysource(auth.pass)}`
      : auth.oauth2
        ? `, token from OAuth2 client ${auth.oauth2.clientId}`
        : '';
  const user = auth.user ? ` user ${auth.user}` : auth.type !== 'NONE' && auth.pass && 'secret' in auth.pass ? ' (user from the secret)' : '';
  out(`  auth:       ${auth.type}${user}${secret}`);
  if (hookName) out(`  auth hook:  ${hookName}${Object.values(route.origins).includes('hook') ? ` set ${Object.keys(route.origins).filter((f) => route.origins[f] === 'hook').join(', ')}` : ' answered nothing'}`);
  out('');
}

function printResult(result: RouteCheck, out: (line: string) => void): void {
  for (const line of result.transcript) out(`  ${line.dir === '*' ? '*' : `${line.dir}:`} ${line.text}`);
  if (result.transcript.length) out('');
  out(result.verdict);
  if (!result.ok && result.reason) {
    const fate = result.retryable
      ? 'messages on this route are retried (the next relay of the list first) until delivery.maxAgeSeconds, then dead-lettered as expired'
      : 'messages on this route go to the DLQ at once';
    out(`  (${result.reason}: ${fate})`);
  }
  out('');
}
