/**
 * Defaults and well-known values of the OAuth2 token provider. Every constant carries its unit.
 */

/** Renew a cached token this long before it expires (never more than half its lifetime). */
export const DEFAULT_REFRESH_MARGIN_SECONDS = 300;

/** Give up on a token request (connect, send, headers and body) after this long: transient. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

/**
 * Lifetime assumed when a token response has no usable `expires_in` (RFC 6749 §5.1 only
 * recommends it). Short on purpose: a token kept too long costs a rejected AUTH and a renewal.
 */
export const DEFAULT_TOKEN_LIFETIME_SECONDS = 600;

/** A token response larger than this is not a token response. */
export const MAX_RESPONSE_BYTES = 64 * 1024;

/** The endpoint's `error_description` is kept up to this many characters in error messages. */
export const MAX_ERROR_TEXT_CHARS = 500;

/** Token cache entries kept at most (one per client, scope and flow); expired ones go first, then the least recently used. */
export const MAX_CACHE_ENTRIES = 1_000;

/** Secrets shorter than this are not searched for in endpoint text (they would garble it). */
export const MIN_REDACTED_SECRET_CHARS = 4;

/** Microsoft identity platform: `tenantId` becomes `${MICROSOFT_LOGIN_ORIGIN}/<tenant>/oauth2/v2.0/token`. */
export const MICROSOFT_LOGIN_ORIGIN = 'https://login.microsoftonline.com';

/** Client-credentials scope for Exchange Online SMTP AUTH (application permission `SMTP.SendAsApp`). */
export const MICROSOFT_365_SMTP_SCOPE = 'https://outlook.office365.com/.default';

/** Google's token endpoint (`tokenUrl` for Gmail / Google Workspace). */
export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';

/** The only Google scope that allows SMTP/IMAP XOAUTH2 (a restricted scope: full mailbox access). */
export const GOOGLE_MAIL_SCOPE = 'https://mail.google.com/';
