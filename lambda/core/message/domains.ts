/**
 * Domain names as the config table and the SMTP envelope see them: A-labels, lower-case
 * (docs/design.md §2: a domain item matches its exact domain, compared case-insensitively, IDNs as A-labels).
 */
import { domainToASCII } from 'node:url';
import { MAX_DOMAIN_CHARS } from './constants.js';

export type DomainResult = { readonly ok: true; readonly domain: string } | { readonly ok: false; readonly reason: string };

/**
 * ASCII characters a domain may be written with. Checked before domainToASCII because the
 * WHATWG host parser is a URL parser: it percent-decodes (`ex%41mple.com` → `example.com`)
 * and reads numeric hosts as IPv4 (`0x7f.1` → `127.0.0.1`), neither of which belongs in an address.
 */
const UNICODE_DOMAIN_INPUT = /^(?:[A-Za-z0-9.-]|[^\x00-\x7F])+$/;
const LDH_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const NUMERIC_LABEL = /^[0-9]+$/;

/**
 * A domain as a lower-case A-label (`Bücher.Example` → `xn--bcher-kva.example`), or why it is
 * not a usable mail domain: it needs at least two LDH labels and a non-numeric top label
 * (RFC 1123 §2.1, RFC 3696 §2), so IP addresses, address literals and `localhost` are refused.
 * @example
 * toALabel('Bücher.example'); // { ok: true, domain: 'xn--bcher-kva.example' }
 */
export function toALabel(domain: string): DomainResult {
  if (domain.length === 0) return { ok: false, reason: 'domain (after @) is empty' };
  if (domain.startsWith('[')) return { ok: false, reason: 'address literals like [192.0.2.1] are not supported: use a domain name' };
  if (!UNICODE_DOMAIN_INPUT.test(domain)) return { ok: false, reason: 'domain may only hold letters, digits, "-" and "."' };
  // UTS #46 processing: maps case and compatibility forms, validates Punycode, rejects bad IDNs.
  const ascii = domainToASCII(domain);
  if (ascii === '') return { ok: false, reason: 'domain is not a valid (internationalised) domain name' };
  if (ascii.length > MAX_DOMAIN_CHARS) return { ok: false, reason: `domain must be at most ${MAX_DOMAIN_CHARS} characters (as A-labels)` };
  const labels = ascii.split('.');
  if (labels.length < 2) return { ok: false, reason: 'domain must be fully qualified (at least two labels, e.g. example.com)' };
  if (!labels.every((label) => LDH_LABEL.test(label))) {
    return { ok: false, reason: 'domain labels must be 1-63 letters, digits or "-", not starting or ending with "-"' };
  }
  if (NUMERIC_LABEL.test(labels.at(-1) ?? '')) return { ok: false, reason: 'domain must not end in a numeric label (IP addresses are not supported)' };
  return { ok: true, domain: ascii };
}
