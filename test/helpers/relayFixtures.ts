/**
 * The smtp-server relays and SMTP pools a test file starts, cleaned up after every test: idle
 * sessions closed, then every relay stopped. One place for what six test files each kept as their
 * own `relays`/`pools` lists. Call it once at the top level of a test file (it registers the
 * file's `afterEach`).
 */
import { afterEach } from 'vitest';
import { SmtpPool } from '../../lambda/core/smtp/pool.js';
import { testCerts } from '../../local/certs.js';
import { startSmtpRelay, type SmtpRelay, type SmtpRelayOptions } from '../../local/smtpRelay.js';

export interface RelayFixtures {
  /** Starts a relay on 127.0.0.1 (`defaults` first, then `options`), stopped after the test. */
  relay(options?: SmtpRelayOptions): Promise<SmtpRelay>;
  /** A pool that trusts the test CA (unless `options.ca` says otherwise), its idle sessions closed after the test. */
  pool(options?: ConstructorParameters<typeof SmtpPool>[0]): SmtpPool;
}

export function relayFixtures(defaults: SmtpRelayOptions = {}): RelayFixtures {
  const relays: SmtpRelay[] = [];
  const pools: SmtpPool[] = [];
  afterEach(async () => {
    // Pools first: a relay stops sooner when its clients have quit.
    for (const pool of pools.splice(0)) pool.closeIdle();
    await Promise.all(relays.splice(0).map((relay) => relay.stop()));
  });
  return {
    async relay(options = {}) {
      const started = await startSmtpRelay({ ...defaults, ...options });
      relays.push(started);
      return started;
    },
    pool(options = {}) {
      const created = new SmtpPool({ ca: testCerts.ca, ...options });
      pools.push(created);
      return created;
    },
  };
}
