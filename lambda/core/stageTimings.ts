/**
 * Where an invocation's wall time goes, stage by stage, on the diagnostics channel
 * `mailrelay:stage` (node:diagnostics_channel). Nothing is measured or published unless
 * something subscribes: `npm run bench` does, in the client process, to break an invocation
 * down (docs/performance.md); an operator's own extension or wrapper could too.
 *
 * Per record: `parse` (body and queue message; for an S3 pointer also the wait for the payload
 * budget and the read), `claim` (the idempotency claim), `config`
 * (resolving routes from the config store), `compose` (MIME), `session` (credentials, a pooled
 * or new authenticated session: pool wait included), `smtp` (MAIL FROM to the reply to the
 * dot). Per batch: `records` (first record start to last record end), `settle` (the final
 * settle write) and `events` (publishing the batch's delivery events).
 */
import { channel } from 'node:diagnostics_channel';

export const STAGE_CHANNEL = 'mailrelay:stage';

export const STAGES = ['parse', 'claim', 'config', 'compose', 'session', 'smtp', 'records', 'settle', 'events'] as const;
export type Stage = (typeof STAGES)[number];

/** What the channel carries: one stage of one record or batch, in milliseconds of wall time. */
export interface StageTiming {
  readonly stage: Stage;
  readonly ms: number;
}

const stages = channel(STAGE_CHANNEL);

/** Starts timing `stage`; the returned function ends it. A no-op without a subscriber. */
export function startStage(stage: Stage): () => void {
  if (!stages.hasSubscribers) return noop;
  const started = performance.now();
  return () => stages.publish({ stage, ms: performance.now() - started } satisfies StageTiming);
}

/** `work()`, timed as `stage` whether it resolves or rejects; untouched without a subscriber. */
export function timeStage<T>(stage: Stage, work: () => Promise<T>): Promise<T> {
  if (!stages.hasSubscribers) return work();
  const end = startStage(stage);
  return work().finally(end);
}

const noop = (): void => undefined;
