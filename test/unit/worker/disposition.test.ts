/**
 * decideFate: the one place a message's fate is decided (docs/design.md §3). Each row is one
 * situation: what the relays answered this time, what earlier receives settled, how old it is.
 */
import { describe, expect, it } from 'vitest';
import type { RecipientResult } from '../../../lambda/core/relay.js';
import { decideFate, type FateInput } from '../../../lambda/worker/disposition.js';

const delivery = { maxAgeSeconds: 3600, retryIntervalSeconds: 60, maxRetryIntervalSeconds: 600 };
const ok = (address: string): RecipientResult => ({ address, status: 'delivered', route: 'r', responseCode: 250, response: '250 ok' });
const later = (address: string, extra: Partial<RecipientResult> = {}): RecipientResult => ({ address, status: 'deferred', route: 'r', reason: 'connection', detail: 'refused', ...extra });
const refused = (address: string, code = 550): RecipientResult => ({ address, status: 'failed', route: 'r', reason: 'unknown-recipient', responseCode: code, response: `${code} 5.1.1 no` });
const input = (over: Partial<FateInput>): FateInput => ({ recipients: ['a@x', 'b@x'], results: [], receiveCount: 1, maxReceiveCount: 100, ageSeconds: 0, delivery, random: () => 0.5, ...over });

describe('decideFate', () => {
  it('all delivered: acknowledge, record delivered', () => {
    const plan = decideFate(input({ results: [ok('a@x'), ok('b@x')] }));
    expect(plan.action).toEqual({ kind: 'acknowledge' });
    expect(plan.record).toMatchObject({ status: 'delivered', delivered: ['a@x', 'b@x'] });
    expect(plan.dispositions.map((d) => d.status)).toEqual(['delivered', 'delivered']);
  });

  it('a deferral young enough: retry after the age-based interval; the delivered one is on record', () => {
    const plan = decideFate(input({ results: [ok('a@x'), later('b@x')], ageSeconds: 60 }));
    expect(plan.action).toEqual({ kind: 'retry', delaySeconds: 120 });
    expect(plan.record).toMatchObject({ status: 'pending', delivered: ['a@x'], failed: [] });
    expect(plan.dispositions.map((d) => d.status)).toEqual(['delivered', 'deferred']);
  });

  it('a deferral waits at least as long as the suspension it met', () => {
    const plan = decideFate(input({ results: [later('a@x', { reason: 'route-suspended', retryAfterSeconds: 500 })], recipients: ['a@x'] }));
    expect(plan.action).toEqual({ kind: 'retry', delaySeconds: 500 });
  });

  it('many receives are not a reason to give up while the message is young: only age expires it', () => {
    const plan = decideFate(input({ results: [later('a@x')], recipients: ['a@x'], receiveCount: 40, ageSeconds: 3599 }));
    expect(plan.action.kind).toBe('retry');
  });

  it('deferred at maxAgeSeconds: dead-lettered as expired, naming the last reason; disposition expired', () => {
    const plan = decideFate(input({ results: [ok('a@x'), later('b@x', { responseCode: 421, response: '421 busy' })], ageSeconds: 3600 }));
    expect(plan.action).toMatchObject({ kind: 'dead-letter', reason: { reason: 'expired', recipients: ['b@x'], responseCode: 421 } });
    expect(plan.action.kind === 'dead-letter' && plan.action.reason.detail).toMatch(/maxAgeSeconds \(3600 s\); last: connection: refused/);
    expect(plan.dispositions.map((d) => d.status)).toEqual(['delivered', 'expired']);
    expect(plan.record.status).toBe('dead-lettered');
  });

  it('an unknown policy (config unreadable) never expires a message; the queue’s receive limit is the backstop', () => {
    expect(decideFate(input({ results: [later('a@x')], recipients: ['a@x'], ageSeconds: 1e7, delivery: undefined })).action.kind).toBe('retry');
    const plan = decideFate(input({ results: [later('a@x')], recipients: ['a@x'], delivery: undefined, receiveCount: 100 }));
    expect(plan.action).toMatchObject({ kind: 'dead-letter', reason: { reason: 'retries-exhausted:connection' } });
    expect(plan.dispositions[0]!.status).toBe('dead-lettered');
  });

  it('a 5xx refusal: bounced, dead-lettered with the relay’s reply, only the undelivered recipient named', () => {
    const plan = decideFate(input({ results: [ok('a@x'), refused('b@x')] }));
    expect(plan.action).toMatchObject({ kind: 'dead-letter', reason: { reason: 'unknown-recipient', responseCode: 550, recipients: ['b@x'] } });
    expect(plan.dispositions.map((d) => d.status)).toEqual(['delivered', 'bounced']);
    expect(plan.record).toMatchObject({ failed: ['b@x'], failure: { reason: 'unknown-recipient', responseCode: 550 } });
  });

  it('a permanent failure without an SMTP reply (configuration) is dead-lettered, not bounced', () => {
    const plan = decideFate(input({ recipients: ['a@x'], results: [{ address: 'a@x', status: 'failed', reason: 'invalid-config', detail: 'relay.host missing' }] }));
    expect(plan.dispositions[0]!.status).toBe('dead-lettered');
  });

  it('a refusal from an earlier receive is carried to the DLQ entry written when the rest is settled', () => {
    const plan = decideFate(input({ results: [ok('a@x')], previous: { delivered: [], failed: ['b@x'], failure: { reason: 'unknown-recipient', responseCode: 550, response: '550 no' } } }));
    expect(plan.action).toMatchObject({ kind: 'dead-letter', reason: { reason: 'unknown-recipient', responseCode: 550, recipients: ['b@x'] } });
  });
});
