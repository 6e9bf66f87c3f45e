/**
 * What the bench sends: one ~3 KB text + HTML message, the same for the worker (as an SQS body)
 * and for the alternatives (as nodemailer mail options), and N routes, each a recipient domain
 * with its own config item, its own Secrets Manager secret and its own relay user.
 */

/** smtp-server's fixed 100 ms wait before the greeting, as shipped (`delay`) or patched out (`no-delay`). */
export type GreetingMode = 'delay' | 'no-delay';
export const GREETING_MODES: readonly GreetingMode[] = ['delay', 'no-delay'];

export const SENDER = 'Bench Newsletter <news@sender.bench.example>';
export const SUBJECT = 'Your weekly digest: 12 new articles and a message from the team';

/** Prefix every secret a keysource may name must carry (the worker's SECRET_PREFIX). */
export const SECRET_PREFIX = 'mailrelay/';

/** Recipient domain of route `route` (0-based) on the relay of `greeting`. */
export function routeDomain(route: number, greeting: GreetingMode): string {
  return `r${route}.${greeting === 'delay' ? 'slow' : 'fast'}.bench.example`;
}

/** Relay user of route `route`; the same on both relays. */
export const routeUser = (route: number): string => `r${route}@bench.example`;

/** Secrets Manager id holding route `route`'s `{ username, password }`. */
export const routeSecretId = (route: number): string => `${SECRET_PREFIX}bench/r${route}`;

/** Deterministic per-run password of a route (the relay and the secret agree on it). */
export const routePassword = (runId: string, route: number): string => `pw-${runId}-${route}-${(route * 7919 + 104_729).toString(36)}`;

/** The recipient of message `index` when the workload spreads over `routes` routes. */
export function recipientOf(index: number, routes: number, greeting: GreetingMode): { address: string; route: number } {
  const route = index % routes;
  return { address: `reader${index}@${routeDomain(route, greeting)}`, route };
}

const PARAGRAPHS = [
  'This week we shipped the new dashboard, reworked the search index and fixed the export bug many of you reported.',
  'Our engineering team wrote about how we cut page load times in half by moving image resizing to the edge.',
  'The community call is on Thursday at 17:00 UTC; bring your questions about the API changes coming next month.',
  'A reminder that legacy tokens stop working on the first of next month: rotate them from the settings page.',
  'Thanks to everyone who answered the survey. The results, and what we will change because of them, are below.',
  'You receive this digest because you subscribed at signup; one click on the link below unsubscribes you.',
];

/** Plain-text part, about 1 KB. */
export const TEXT_BODY = [
  'Hello,',
  '',
  ...PARAGRAPHS.flatMap((p) => [p, '']),
  'Read the articles: https://news.bench.example/digest/2026-47',
  'Unsubscribe: https://news.bench.example/u/0f3a9c',
  '',
  '-- ',
  'The Bench Newsletter team',
].join('\n');

/** HTML part, about 1.6 KB. */
export const HTML_BODY = [
  '<!doctype html><html><body style="font-family:Helvetica,Arial,sans-serif;color:#222">',
  '<h1 style="font-size:20px">Your weekly digest</h1>',
  ...PARAGRAPHS.map((p, i) => `<p style="margin:0 0 12px">${p} <a href="https://news.bench.example/a/${i + 1}">More</a></p>`),
  '<p><a href="https://news.bench.example/digest/2026-47" style="color:#0a66c2">Read the articles</a></p>',
  '<p style="font-size:11px;color:#888">You receive this digest because you subscribed at signup. ',
  '<a href="https://news.bench.example/u/0f3a9c">Unsubscribe</a></p>',
  '</body></html>',
].join('\n');

/** The SQS body of message `index` (docs/design.md §1). */
export function queueBody(key: string, to: string): string {
  return JSON.stringify({
    idempotencyKey: key,
    from: SENDER,
    to: [to],
    subject: SUBJECT,
    text: TEXT_BODY,
    html: HTML_BODY,
    headers: { 'X-Campaign': 'digest-2026-47' },
    tags: { tenant: 'bench' },
  });
}

/** The same message as nodemailer mail options, for the alternatives. */
export function mailOptions(to: string): { from: string; to: string; subject: string; text: string; html: string; headers: Record<string, string> } {
  return { from: SENDER, to, subject: SUBJECT, text: TEXT_BODY, html: HTML_BODY, headers: { 'X-Campaign': 'digest-2026-47' } };
}
