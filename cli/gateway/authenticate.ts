/**
 * The AUTH decision of docs/design.md §3.1 (KumoMTA's `smtp_server_auth_plain`): the
 * authentication identity (authc) and its password are checked against `submitter#<authc>`; an
 * empty authorization identity (authz) means authc, a different one must be listed in the item's
 * `authz`. PLAIN always, LOGIN only where the item says `allowLogin`. Failures are slowed, and an
 * address that keeps failing is refused for a while.
 */
import type { SubmitterItem } from '../../lambda/core/config/submitter.js';
import type { AuthFailureThrottle } from './authFailureThrottle.js';
import type { SubmitterDirectory } from './submitterDirectory.js';

export interface AuthRequest {
  readonly method: 'PLAIN' | 'LOGIN';
  /** The authentication identity: the SASL authcid (PLAIN) or the user name (LOGIN). */
  readonly authcid: string;
  /** The authorization identity; '' when the client sent none (always '' for LOGIN). */
  readonly authzid: string;
  /** Never logged, never kept. */
  readonly password: string;
  readonly clientAddress: string;
}

/** Who submits: set on the SMTP session after 235, carried into `submission`. */
export interface SubmissionIdentity {
  readonly authnId: string;
  readonly authzId: string;
  readonly method: 'PLAIN' | 'LOGIN';
  readonly submitter: SubmitterItem;
}

export type AuthDecision =
  | { readonly ok: true; readonly identity: SubmissionIdentity }
  | {
      readonly ok: false;
      /** 535 bad credentials or authz, 504 mechanism not allowed, 454 try later. */
      readonly code: 454 | 504 | 535;
      readonly message: string;
      /** Why, for the log (never sent to the client beyond `message`). */
      readonly reason: 'locked-out' | 'no-authc' | 'unknown-submitter' | 'wrong-password' | 'invalid-submitter-item' | 'authz-not-allowed' | 'login-not-allowed' | 'unavailable';
      /** Wait this long before answering (failures only). */
      readonly delayMs: number;
      /** Failures counted from this address so far (failures only). */
      readonly failures?: number;
      readonly lockedOut?: boolean;
      readonly detail?: string;
    };

const INVALID = 'Authentication credentials invalid';

export interface Authenticator {
  authenticate(request: AuthRequest): Promise<AuthDecision>;
}

/**
 * @example
 * const auth = createAuthenticator({ directory, throttle });
 * const decision = await auth.authenticate({ method: 'PLAIN', authcid: 'app1', authzid: '', password, clientAddress: '192.0.2.1' });
 */
export function createAuthenticator(deps: { readonly directory: SubmitterDirectory; readonly throttle: AuthFailureThrottle }): Authenticator {
  const fail = (request: AuthRequest, reason: 'no-authc' | 'unknown-submitter' | 'wrong-password' | 'invalid-submitter-item' | 'authz-not-allowed'): AuthDecision => {
    const counted = deps.throttle.recordFailure(request.clientAddress);
    return { ok: false, code: 535, message: INVALID, reason, delayMs: counted.delayMs, failures: counted.failures, lockedOut: counted.lockedOut };
  };

  return {
    async authenticate(request) {
      const lockedMs = deps.throttle.lockedFor(request.clientAddress);
      if (lockedMs > 0) {
        const minutes = Math.ceil(lockedMs / 60_000);
        const message = `Too many failed authentications from ${request.clientAddress}; try again in ${minutes} minute${minutes === 1 ? '' : 's'}`;
        return { ok: false, code: 454, message, reason: 'locked-out', delayMs: 0 };
      }
      if (request.authcid === '') return fail(request, 'no-authc');

      const check = await deps.directory.checkPassword(request.authcid, request.password);
      if (check.outcome === 'unavailable') {
        return { ok: false, code: 454, message: 'Temporary authentication failure; try again later', reason: 'unavailable', delayMs: 0, detail: check.detail };
      }
      if (check.outcome === 'invalid') return fail(request, check.why);

      const { submitter } = check;
      // Only a client that knows the password learns that LOGIN is off: the check comes after it.
      if (request.method === 'LOGIN' && submitter.allowLogin !== true) {
        return { ok: false, code: 504, message: 'AUTH LOGIN is not enabled for this submitter; use AUTH PLAIN', reason: 'login-not-allowed', delayMs: 0 };
      }
      const authzId = request.authzid === '' ? request.authcid : request.authzid;
      if (authzId !== request.authcid && !submitter.authz.includes(authzId)) return fail(request, 'authz-not-allowed');
      return { ok: true, identity: { authnId: request.authcid, authzId, method: request.method, submitter } };
    },
  };
}
