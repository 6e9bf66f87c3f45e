/**
 * `mailrelay enqueue FILE...`: validate queue messages as the worker does, send the valid ones.
 * A body above 256 KiB is offloaded to the payload bucket first and sent as an SQS Extended
 * Client pointer with `ExtendedPayloadSize`, as those libraries do (docs/payloads.md).
 */
import { readFile } from 'node:fs/promises';
import { SendMessageBatchCommand, type MessageAttributeValue } from '@aws-sdk/client-sqs';
import { MessageValidationError, type FieldIssue } from '../../lambda/core/errors.js';
import { MAX_BODY_BYTES, parseQueueMessage } from '../../lambda/core/message/index.js';
import { describePointer, MAX_PAYLOAD_BYTES, OFFLOAD_THRESHOLD_BYTES, pointerMessage, type PayloadPointer } from '../../lambda/core/payloads.js';
import { S3PayloadOffloader } from '../adapters/s3PayloadOffloader.js';
import type { CommandRun } from '../command.js';
import { UsageError } from '../errors.js';
import { plural, printJson, table } from '../io.js';

/** SQS: at most 10 entries and 1 MiB per SendMessageBatch. */
const MAX_BATCH_ENTRIES = 10;
const MAX_BATCH_BYTES = MAX_BODY_BYTES;
/** Stands for the key the worker falls back to when a message has none. */
const SQS_ID = '(the SQS message id)';

interface Valid {
  readonly file: string;
  readonly body: string;
  readonly idempotencyKey: string | undefined;
  readonly recipients: number;
  /** Bytes of the body: above {@link OFFLOAD_THRESHOLD_BYTES} it goes to S3. */
  readonly bytes: number;
}

/** What goes on the queue for one file: its body, or a pointer to it in the payload bucket. */
interface Entry {
  readonly file: string;
  readonly body: string;
  readonly attributes?: Record<string, MessageAttributeValue> | undefined;
  readonly idempotencyKey: string | undefined;
  readonly payload?: string | undefined;
}

export const run: CommandRun = async ({ values, positionals }, ctx) => {
  if (positionals.length === 0) throw new UsageError('give at least one message file', 'enqueue');
  const dryRun = values['dry-run'] === true;

  const valid: Valid[] = [];
  const invalid: { file: string; issues: readonly FieldIssue[] }[] = [];
  for (const file of positionals) {
    let body: string;
    try {
      body = await readFile(file, 'utf8');
    } catch (error) {
      invalid.push({ file, issues: [{ path: '$', message: `cannot read the file: ${(error as Error).message}` }] });
      continue;
    }
    try {
      const message = parseQueueMessage(body, { fallbackIdempotencyKey: SQS_ID, maxBodyBytes: MAX_PAYLOAD_BYTES });
      const bytes = Buffer.byteLength(body, 'utf8');
      valid.push({ file, body, bytes, idempotencyKey: message.idempotencyKey === SQS_ID ? undefined : message.idempotencyKey, recipients: message.envelope.to.length });
    } catch (error) {
      if (!(error instanceof MessageValidationError)) throw error;
      invalid.push({ file, issues: error.issues });
    }
  }

  const sent: { file: string; messageId: string; idempotencyKey: string | undefined; payload?: string | undefined }[] = [];
  const failed: { file: string; code: string; message: string }[] = [];
  let queueUrl: string | undefined;
  if (!dryRun && valid.length > 0) {
    const target = ctx.target();
    queueUrl = target.queueUrl();
    const entries: Entry[] = [];
    const large = valid.filter((v) => v.bytes > OFFLOAD_THRESHOLD_BYTES);
    const bucket = large.length > 0 ? target.payloadBucket(values['payload-bucket'] as string | undefined) : undefined;
    const offloader = bucket === undefined ? undefined : new S3PayloadOffloader({ client: await target.s3(), bucket });
    for (const v of valid) {
      if (!offloader || v.bytes <= OFFLOAD_THRESHOLD_BYTES) {
        entries.push({ file: v.file, body: v.body, idempotencyKey: v.idempotencyKey });
        continue;
      }
      let pointer: PayloadPointer;
      try {
        pointer = await offloader.put(v.body);
      } catch (error) {
        failed.push({ file: v.file, code: (error as Error).name ?? 'Error', message: `offloading to s3://${offloader.bucket}: ${(error as Error).message}` });
        continue;
      }
      const message = pointerMessage(pointer, v.bytes);
      entries.push({ file: v.file, body: message.body, attributes: message.attributes, idempotencyKey: v.idempotencyKey, payload: describePointer(pointer) });
    }
    for (const batch of batches(entries)) {
      const response = await (await target.sqs()).send(
        new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: batch.map((v, i) => ({ Id: String(i), MessageBody: v.body, MessageAttributes: v.attributes })) }),
      );
      for (const ok of response.Successful ?? []) {
        const v = batch[Number(ok.Id)];
        if (v) sent.push({ file: v.file, messageId: ok.MessageId ?? '', idempotencyKey: v.idempotencyKey, ...(v.payload ? { payload: v.payload } : {}) });
      }
      for (const bad of response.Failed ?? []) {
        const v = batch[Number(bad.Id)];
        if (v) failed.push({ file: v.file, code: bad.Code ?? 'Error', message: bad.Message ?? '' });
      }
    }
  }

  const ok = invalid.length === 0 && failed.length === 0;
  if (ctx.json) {
    printJson(ctx.io, {
      ...(queueUrl ? { queueUrl } : {}),
      ...(dryRun ? { valid: valid.map((v) => ({ file: v.file, idempotencyKey: v.idempotencyKey, recipients: v.recipients, bytes: v.bytes, offload: v.bytes > OFFLOAD_THRESHOLD_BYTES })) } : {}),
      sent,
      invalid,
      failed,
    });
    return ok ? 0 : 1;
  }
  const rows: string[][] = [];
  for (const s of sent) rows.push([s.file, 'sent', `${s.messageId}${s.payload ? ` (body in ${s.payload})` : ''}`]);
  if (dryRun) {
    for (const v of valid) {
      const offload = v.bytes > OFFLOAD_THRESHOLD_BYTES ? `, ${v.bytes.toLocaleString('en-US')} bytes: offloaded to the payload bucket` : '';
      rows.push([v.file, 'valid', `${plural(v.recipients, 'recipient')}${v.idempotencyKey ? `, idempotency key ${v.idempotencyKey}` : ''}${offload}`]);
    }
  }
  for (const f of failed) rows.push([f.file, 'FAILED', `${f.code}: ${f.message}`]);
  for (const i of invalid) {
    i.issues.forEach((issue, n) => rows.push([n === 0 ? i.file : '', n === 0 ? 'INVALID' : '', `${issue.path}: ${issue.message}`]));
  }
  table(rows).forEach((line) => ctx.io.out(line));
  const summary = dryRun
    ? `${plural(valid.length, 'valid message')}, ${plural(invalid.length, 'invalid file')}; nothing sent (--dry-run).`
    : `Sent ${plural(sent.length, 'message')}${queueUrl ? ` to ${queueUrl}` : ''}${invalid.length ? `; ${plural(invalid.length, 'invalid file')} not sent` : ''}${failed.length ? `; ${failed.length} failed` : ''}.`;
  (ok ? ctx.io.out : ctx.io.err)(summary);
  return ok ? 0 : 1;
};

/** Chunks of at most 10 entries and 1 MiB. */
function* batches(messages: readonly Entry[]): Generator<Entry[]> {
  let batch: Entry[] = [];
  let bytes = 0;
  for (const m of messages) {
    const size = Buffer.byteLength(m.body, 'utf8');
    if (batch.length > 0 && (batch.length === MAX_BATCH_ENTRIES || bytes + size > MAX_BATCH_BYTES)) {
      yield batch;
      batch = [];
      bytes = 0;
    }
    batch.push(m);
    bytes += size;
  }
  if (batch.length > 0) yield batch;
}
