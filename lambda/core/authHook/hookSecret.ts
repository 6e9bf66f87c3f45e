/**
 * A literal secret a hook answered with. It lives in a private field: JSON.stringify, util.inspect,
 * template strings and loggers see only `[hook secret <fingerprint>]`, so it never reaches a log
 * line, a queue message or the DLQ. The fingerprint is an HMAC of the secret under a key drawn at
 * random per process: it tells two secrets apart (the pool key) without revealing either.
 */
import { createHmac, randomBytes } from 'node:crypto';

const PROCESS_KEY = randomBytes(32);

/** A non-secret fingerprint of `secret`, stable within this process only. */
export function fingerprintSecret(secret: string): string {
  return createHmac('sha256', PROCESS_KEY).update(secret).digest('base64url').slice(0, 22);
}

export class HookSecret {
  readonly #value: string;
  public readonly fingerprint: string;

  public constructor(value: string) {
    this.#value = value;
    this.fingerprint = fingerprintSecret(value);
  }

  /** The secret itself, for the AUTH exchange only. */
  public reveal(): string {
    return this.#value;
  }

  public toJSON(): { hookSecret: string } {
    return { hookSecret: this.fingerprint };
  }

  public toString(): string {
    return `[hook secret ${this.fingerprint}]`;
  }

  public [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }
}
