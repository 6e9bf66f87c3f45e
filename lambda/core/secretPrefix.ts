/**
 * The secret prefix (docs/design.md §3): the namespace of Secrets Manager secrets and SSM
 * parameters a keysource may name. It ends with `/`, so `mailrelay/` never admits
 * `mailrelay-prod-db`.
 *
 * One prefix serves both stores, whose names differ: SSM names of a hierarchy start with `/`
 * (`/mailrelay/acme`), Secrets Manager names do not (`mailrelay/acme`). Both the prefix and a
 * parameter name are compared without their leading `/`, which is also how both appear in ARNs
 * (`secret:mailrelay/acme-AbCdEf`, `parameter/mailrelay/acme`). So `mailrelay/` and `/mailrelay/`
 * are the same prefix: secrets named `mailrelay/…`, parameters named `/mailrelay/…` or
 * `mailrelay/…`. A secret whose name itself starts with `/` is outside it (and outside IAM).
 */

/** Why `prefix` cannot be a secret prefix, or undefined when it can. */
export function secretPrefixProblem(prefix: string): string | undefined {
  if (!/^[A-Za-z0-9/_+=.@-]{1,256}$/.test(prefix)) return `"${prefix}" must be 1-256 of A-Z a-z 0-9 / _ + = . @ - (no wildcards)`;
  if (!prefix.endsWith('/')) return `"${prefix}" must end with "/" (without it, "${prefix}" would also admit "${prefix}-other")`;
  if (canonicalPrefix(prefix) === '') return `"${prefix}" would admit every secret and parameter: it needs a name before the "/"`;
  if (canonicalPrefix(prefix).startsWith('/')) return `"${prefix}" must start with at most one "/"`;
  return undefined;
}

/** The prefix as names and ARNs carry it: without its leading `/` (`/mailrelay/` → `mailrelay/`). */
export function canonicalPrefix(prefix: string): string {
  return prefix.startsWith('/') ? prefix.slice(1) : prefix;
}

/** Whether a keysource's name lies under `prefix` (see the module comment for the two stores). */
export function isUnderPrefix(ref: { readonly secret: string } | { readonly parameter: string }, prefix: string): boolean {
  const name = 'secret' in ref ? ref.secret : canonicalPrefix(ref.parameter);
  return name.startsWith(canonicalPrefix(prefix));
}

/** `env` keysources read only variables whose name starts with this (never AWS_SECRET_ACCESS_KEY & co). */
export const ENV_KEYSOURCE_PREFIX = 'MAILRELAY_';
export const ENV_KEYSOURCE_PATTERN = /^MAILRELAY_[A-Za-z0-9_]+$/;
