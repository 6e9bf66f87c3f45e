/**
 * The shared cleanup of test relays and pools (test/helpers/relayFixtures.ts): what one test
 * starts is gone when the next one runs. The tests run in order; the second checks the first's.
 */
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { relayFixtures } from '../helpers/relayFixtures.js';

const fixtures = relayFixtures({ users: { u: 'p' } });
let port = 0;
let closeIdleCalls = 0;

/** Resolves with 'refused' when nothing listens on 127.0.0.1:port, 'open' when something does. */
function probe(target: number): Promise<'open' | 'refused'> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: target });
    socket.once('connect', () => {
      socket.destroy();
      resolve('open');
    });
    socket.once('error', () => resolve('refused'));
  });
}

describe('relayFixtures', () => {
  it('starts a relay with the defaults and a pool that trusts the test CA', async () => {
    const relay = await fixtures.relay();
    port = relay.port;
    const pool = fixtures.pool();
    const closeIdle = pool.closeIdle.bind(pool);
    pool.closeIdle = () => {
      closeIdleCalls++;
      closeIdle();
    };
    expect(await probe(port)).toBe('open');
  });

  it("stops the previous test's relay and closes its pool's idle sessions", async () => {
    expect(port).toBeGreaterThan(0);
    expect(await probe(port)).toBe('refused');
    expect(closeIdleCalls).toBe(1);
  });
});
