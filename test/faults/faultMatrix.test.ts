/**
 * The fault matrix (issue 9): every failure a relay, the network or AWS can throw, each row
 * asserting where the message ended (relayed once / retried / dead-lettered with its reason),
 * which recipients the relay accepted, and what an operator reads (log line, metric, DLQ
 * attributes). One world for all rows, as one warm Lambda sandbox serves many batches; each row
 * has its own relay and binding. docs/fault-handling.md is the table for humans.
 *
 * `npm run test:faults`; FAULTS_VERBOSE=1 prints the worker's log lines too.
 */
import { afterAll, beforeAll } from 'vitest';
import { formatSummary, startFaultHarness, type FaultHarness } from './helpers/faultHarness.js';
import { createRowKit } from './helpers/rowKit.js';
import { awsRows } from './rows/aws.js';
import { lambdaRows } from './rows/lambda.js';
import { recipientFateRows } from './rows/recipientFate.js';
import { relayReplyRows } from './rows/relayReplies.js';
import { relayTransportRows } from './rows/relayTransport.js';

let harness: FaultHarness | undefined;
const kit = createRowKit(() => {
  if (!harness) throw new Error('fault harness not started');
  return harness;
});

beforeAll(async () => {
  harness = await startFaultHarness();
});

afterAll(async () => {
  await kit.stopAll();
  const summary = harness?.summary ?? [];
  await harness?.stop();
  if (summary.length > 0) process.stdout.write(formatSummary(summary));
});

relayReplyRows(kit);
relayTransportRows(kit);
awsRows(kit);
lambdaRows(kit);
recipientFateRows(kit);
