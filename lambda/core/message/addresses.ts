/**
 * Email addresses of the queue message: one mailbox per element (docs/design.md §1.1), the domain as
 * a lower-case A-label. nodemailer's addressparser reads the mailbox (display name, quoting,
 * comments), but it is lenient by design — `a@x.com b@y.com` becomes one address named
 * `b@y.com` — so a strict shape check runs first: a message that routes mail must never be
 * read two ways.
 *
 * Non-ASCII local parts (RFC 6531, `jösé@example.com`) are accepted, normalised to NFC so that
 * the same mailbox is always the same string (and de-duplicates). Delivering them needs a relay
 * that offers SMTPUTF8; nodemailer asks for it, and a relay that refuses answers 5xx, which
 * sends the message to the DLQ with the relay's reason.
 */
import addressparser from 'nodemailer/lib/addressparser/index.js';
import * as z from 'zod/mini';
import { addTransformIssue, unsafeCharacter } from '../validation.js';
import { MAX_ADDRESS_OCTETS, MAX_ISSUES_PER_FIELD, MAX_LOCAL_PART_OCTETS, MAX_MAILBOX_CHARS } from './constants.js';
import { toALabel } from './domains.js';
import type { MailAddress } from './types.js';

export type AddressResult = { readonly ok: true; readonly address: MailAddress } | { readonly ok: false; readonly reason: string };
export type AddressListResult =
  | { readonly ok: true; readonly addresses: readonly MailAddress[] }
  | { readonly ok: false; readonly reasons: readonly string[] };

/**
 * Parse one mailbox: `local@domain` or `Display Name <local@domain>` (comments allowed).
 * Refuses groups, several mailboxes, address literals and anything header-unsafe.
 * @example
 * parseMailbox('Acme Billing <billing@Bücher.example>');
 * // { ok: true, address: { name: 'Acme Billing', address: 'billing@xn--bcher-kva.example', domain: 'xn--bcher-kva.example' } }
 */
export function parseMailbox(value: string): AddressResult {
  const unsafe = unsafeCharacter(value);
  if (unsafe) return failure(`must not contain ${unsafe}`);
  if (value.length > MAX_MAILBOX_CHARS) return failure(`must be at most ${MAX_MAILBOX_CHARS} characters`);
  const shapeProblem = mailboxShapeProblem(value);
  if (shapeProblem) return failure(shapeProblem);
  const parsed = addressparser(value);
  const only = parsed[0];
  // Defence in depth: the shape check should make this unreachable.
  if (parsed.length !== 1 || only === undefined || only.group !== undefined || only.address === '') {
    return failure('is not a valid mailbox: write local@domain or Name <local@domain>');
  }
  return addrSpec(only.address, only.name);
}

/**
 * Parse an address-list header value (raw To / Cc / Bcc): mailboxes separated by commas, groups
 * (`undisclosed-recipients:;`) flattened. Each mailbox gets the same checks as {@link parseMailbox}.
 */
export function parseMailboxList(value: string): AddressListResult {
  const split = splitAddressList(value);
  if (!split.ok) return { ok: false, reasons: [split.reason] };
  const addresses: MailAddress[] = [];
  const reasons: string[] = [];
  split.elements.forEach((element, index) => {
    const result = parseMailbox(element);
    if (result.ok) addresses.push(result.address);
    else reasons.push(`address ${index + 1}: ${result.reason}`);
  });
  return reasons.length > 0 ? { ok: false, reasons } : { ok: true, addresses };
}

/**
 * Recipients in order of first appearance, each once. Domains are already lower-case A-labels,
 * so comparing whole addresses is case-insensitive on the domain and exact on the local part
 * (RFC 5321 §2.4: only the destination may interpret local-part case).
 */
export function dedupeAddresses(addresses: Iterable<MailAddress>): MailAddress[] {
  const seen = new Map<string, MailAddress>();
  for (const address of addresses) if (!seen.has(address.address)) seen.set(address.address, address);
  return [...seen.values()];
}

/** A zod string that must be one mailbox, parsed into a {@link MailAddress}. */
export const mailboxSchema = z.pipe(
  z.string('must be a string'),
  z.transform((value: string, ctx): MailAddress => {
    const result = parseMailbox(value);
    if (result.ok) return result.address;
    addTransformIssue(ctx, result.reason);
    return z.NEVER;
  }),
);

/**
 * A zod array of mailboxes (`to`, `cc`, `bcc`, `envelope.to`), each problem at its element's
 * path (`to[1]`). Repeated strings are parsed once, and past {@link MAX_ISSUES_PER_FIELD} bad
 * elements the rest are only counted, so that a list as large as the body allows stays cheap.
 * @param options.minMessage - when given, an empty array is refused with this message.
 */
export function mailboxListSchema(options: { readonly minMessage?: string } = {}) {
  const array = z.array(z.unknown(), 'must be an array of addresses (one mailbox per element)');
  const sized = options.minMessage === undefined ? array : array.check(z.minLength(1, options.minMessage));
  return z.pipe(
    sized,
    z.transform((elements: unknown[], ctx): MailAddress[] => {
      const addresses: MailAddress[] = [];
      const parsed = new Map<string, AddressResult>();
      let bad = 0;
      elements.forEach((element, index) => {
        let result: AddressResult = { ok: false, reason: 'must be a string' };
        if (typeof element === 'string') {
          result = parsed.get(element) ?? parseMailbox(element);
          parsed.set(element, result);
        }
        if (result.ok) addresses.push(result.address);
        else if (++bad <= MAX_ISSUES_PER_FIELD) addTransformIssue(ctx, result.reason, [index]);
      });
      if (bad > MAX_ISSUES_PER_FIELD) addTransformIssue(ctx, `has ${bad - MAX_ISSUES_PER_FIELD} more invalid addresses, not listed`);
      return addresses;
    }),
  );
}

function failure(reason: string): { ok: false; reason: string } {
  return { ok: false, reason };
}

// RFC 5322 atext, plus any non-ASCII character but spaces and controls (RFC 6532 §3.2).
const ATEXT = "(?:[A-Za-z0-9!#$%&'*+\\-/=?^_`{|}~]|[^\\x00-\\x7F\\s\\p{Cc}\\p{Cs}])";
const DOT_ATOM = new RegExp(`^${ATEXT}+(?:\\.${ATEXT}+)*$`, 'u');
// RFC 5322 quoted-string, less "<" and ">": nodemailer refuses an envelope address holding them
// (its SMTP command would be ambiguous), which would block every recipient of the route.
const QUOTED_STRING = /^"(?:[\x20\x21\x23-\x3B\x3D\x3F-\x5B\x5D-\x7E]|[^\x00-\x7F\p{Cc}\p{Cs}]|\\[\x20-\x3B\x3D\x3F-\x7E])+"$/u;

function addrSpec(address: string, name: string): AddressResult {
  // The domain never holds "@" (no address literals), so the last one splits, even after a
  // quoted local part such as "a@b"@example.com.
  const at = address.lastIndexOf('@');
  if (at < 0) return failure('must be an email address (local@domain)');
  const local = address.slice(0, at).normalize('NFC');
  if (local === '') return failure('local part (before @) is empty');
  if (!DOT_ATOM.test(local) && !QUOTED_STRING.test(local)) {
    return failure('local part must be a dot-atom (like first.last) or a quoted string');
  }
  if (Buffer.byteLength(local) > MAX_LOCAL_PART_OCTETS) return failure(`local part must be at most ${MAX_LOCAL_PART_OCTETS} octets`);
  const domain = toALabel(address.slice(at + 1));
  if (!domain.ok) return failure(domain.reason);
  const normalised = `${local}@${domain.domain}`;
  if (Buffer.byteLength(normalised) > MAX_ADDRESS_OCTETS) return failure(`must be at most ${MAX_ADDRESS_OCTETS} octets`);
  return { ok: true, address: { name, address: normalised, domain: domain.domain } };
}

type CharKind = 'top' | 'quoted' | 'comment';

/**
 * The role of each character: inside a quoted string, inside a (nested) comment, or at the top
 * level where the specials `<>@,;:[]` mean something. Backslash escapes count only inside quotes
 * and comments (RFC 5322 §3.2.1).
 */
function classify(value: string): { ok: true; kinds: CharKind[] } | { ok: false; reason: string } {
  const kinds: CharKind[] = [];
  let quoted = false;
  let commentDepth = 0;
  let escaped = false;
  for (const character of value) {
    // A delimiter belongs to the part it opens or closes.
    let kind: CharKind;
    if (quoted || commentDepth > 0) {
      kind = quoted ? 'quoted' : 'comment';
      if (escaped) escaped = false;
      else if (character === '\\') escaped = true;
      else if (quoted && character === '"') quoted = false;
      else if (!quoted && character === '(') commentDepth++;
      else if (!quoted && character === ')') commentDepth--;
    } else if (character === '"') {
      kind = 'quoted';
      quoted = true;
    } else if (character === '(') {
      kind = 'comment';
      commentDepth = 1;
    } else if (character === ')') {
      return { ok: false, reason: 'has a ")" without "("' };
    } else if (character === '\\') {
      return { ok: false, reason: 'has a backslash outside a quoted string' };
    } else {
      kind = 'top';
    }
    // One entry per UTF-16 unit, so that indexes match the string's.
    for (let unit = 0; unit < character.length; unit++) kinds.push(kind);
  }
  if (quoted) return { ok: false, reason: 'has an unterminated quoted string' };
  if (commentDepth > 0) return { ok: false, reason: 'has an unterminated comment' };
  return { ok: true, kinds };
}

/**
 * Why a value is not exactly one `addr-spec` or `[phrase] <addr-spec>`, or undefined. Works on a
 * skeleton where each quoted string is the letter q and each comment a space, so only the
 * specials that structure the mailbox remain.
 */
function mailboxShapeProblem(value: string): string | undefined {
  const classified = classify(value);
  if (!classified.ok) return classified.reason;
  let skeleton = '';
  for (let index = 0; index < value.length; index++) {
    const kind = classified.kinds[index];
    const previous = index > 0 ? classified.kinds[index - 1] : undefined;
    if (kind === 'top') skeleton += value[index];
    else if (kind !== previous) skeleton += kind === 'quoted' ? 'q' : ' ';
  }
  const trimmed = skeleton.trim();
  if (trimmed === '') return 'must be an email address (local@domain)';
  if (trimmed.includes(':')) return 'must be a single mailbox, not a group (name: ...;) or a source route';
  if (/[,;]/.test(trimmed)) return 'must hold exactly one mailbox, not a list';
  if (/[[\]]/.test(trimmed)) return 'address literals like [192.0.2.1] are not supported: use a domain name';
  let spec = trimmed;
  const angle = /^([^<>]*)<([^<>]*)>$/.exec(trimmed);
  if (angle) {
    if ((angle[1] ?? '').includes('@')) return 'holds more than one address (quote a display name that contains "@")';
    spec = (angle[2] ?? '').trim();
  } else if (/[<>]/.test(trimmed)) {
    return 'has a misplaced "<" or ">": write Name <local@domain>';
  }
  const atCount = spec.split('@').length - 1;
  if (atCount === 0) return 'must be an email address (local@domain)';
  if (/\s/.test(spec)) {
    return atCount > 1
      ? 'holds more than one address: give exactly one mailbox'
      : 'must be local@domain or Name <local@domain> (a display name goes before <...>)';
  }
  if (atCount > 1) return 'has more than one "@" (quote a local part that contains "@")';
  return undefined;
}

/**
 * Split an address-list at its top-level commas; a group's members join the list (RFC 5322
 * §3.4: `display-name ":" [mailbox-list] ";"`). Empty elements (`a@x.com, , b@y.com`) are
 * skipped, as the obsolete syntax allows.
 */
function splitAddressList(value: string): { ok: true; elements: string[] } | { ok: false; reason: string } {
  const classified = classify(value);
  if (!classified.ok) return classified;
  const elements: string[] = [];
  let current = '';
  let inAngle = false;
  let inGroup = false;
  const flush = () => {
    if (current.trim() !== '') elements.push(current);
    current = '';
  };
  for (let index = 0; index < value.length; index++) {
    const character = value[index] ?? '';
    if (classified.kinds[index] === 'top' && !inAngle) {
      if (character === ',') {
        flush();
        continue;
      }
      if (character === ':') {
        if (inGroup) return { ok: false, reason: 'has a group inside a group' };
        // The group's display name routes nothing: drop it.
        inGroup = true;
        current = '';
        continue;
      }
      if (character === ';') {
        if (!inGroup) return { ok: false, reason: 'has a ";" outside a group' };
        inGroup = false;
        flush();
        continue;
      }
    }
    if (classified.kinds[index] === 'top') {
      if (character === '<') inAngle = true;
      else if (character === '>') inAngle = false;
    }
    current += character;
  }
  if (inGroup) return { ok: false, reason: 'has a group without its closing ";"' };
  flush();
  return { ok: true, elements };
}
