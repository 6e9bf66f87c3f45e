/**
 * Large messages (docs/design.md §1): a queue body may be an S3 pointer in the format the AWS SQS
 * Extended Client libraries write (Java `amazon-sqs-java-extended-client-lib` 2.x, Python
 * `amazon-sqs-extended-client`, and the JavaScript ports that follow them):
 *
 *     ["software.amazon.payloadoffloading.PayloadS3Pointer",{"s3BucketName":"b","s3Key":"k"}]
 *
 * with the message attribute `ExtendedPayloadSize` (Number: the payload's bytes; older Java
 * clients wrote `SQSLargePayloadSize`). The object holds the real body, the JSON of §1. This
 * module recognises and checks pointers; it knows no AWS (the object is read through the
 * {@link PayloadStore} port of ports.ts).
 */
import { MessageValidationError } from './errors.js';
import { unsafeCharacter } from './validation.js';

/** The first element of every pointer body. */
export const PAYLOAD_POINTER_CLASS = 'software.amazon.payloadoffloading.PayloadS3Pointer';
/** The message attribute the extended clients set to the payload's size in bytes. */
export const EXTENDED_PAYLOAD_SIZE_ATTRIBUTE = 'ExtendedPayloadSize';
/** The name older Java clients (1.x) used for the same attribute; read, never written. */
export const LEGACY_PAYLOAD_SIZE_ATTRIBUTE = 'SQSLargePayloadSize';
/** The largest payload the worker reads from S3: 40 MiB (SES' own message limit is 40 MB). */
export const MAX_PAYLOAD_BYTES = 40 * 1_048_576;
/** Bodies above this are offloaded by `mailrelay enqueue` and the gateway (the extended clients' default threshold). */
export const OFFLOAD_THRESHOLD_BYTES = 256 * 1024;
/** S3's own limit on a key: 1,024 bytes of UTF-8. */
const MAX_KEY_BYTES = 1024;

export interface PayloadPointer {
  readonly bucket: string;
  readonly key: string;
}

/** The pointer body the extended clients write, byte for byte (compact JSON). */
export function formatPayloadPointer(pointer: PayloadPointer): string {
  return JSON.stringify([PAYLOAD_POINTER_CLASS, { s3BucketName: pointer.bucket, s3Key: pointer.key }]);
}

/** An SQS message attribute as SendMessage takes it (kept free of the SDK's types). */
export interface PointerAttribute {
  readonly DataType: 'Number';
  readonly StringValue: string;
}

/** What a producer sends instead of a body it offloaded: the pointer and its size attribute. */
export interface PointerMessage {
  readonly body: string;
  readonly attributes: Readonly<Record<typeof EXTENDED_PAYLOAD_SIZE_ATTRIBUTE, PointerAttribute>>;
}

/**
 * The SQS message that stands for a body of `bytes` stored at `pointer`, exactly as the extended
 * clients send it: the pointer body and `ExtendedPayloadSize` (so the worker sizes its payload
 * budget without a HeadObject). Shared by `mailrelay enqueue` and the gateway.
 * @example
 * pointerMessage({ bucket: 'b', key: 'k' }, 300_000);
 * // { body: '["software.amazon.payloadoffloading.PayloadS3Pointer",{"s3BucketName":"b","s3Key":"k"}]',
 * //   attributes: { ExtendedPayloadSize: { DataType: 'Number', StringValue: '300000' } } }
 */
export function pointerMessage(pointer: PayloadPointer, bytes: number): PointerMessage {
  return { body: formatPayloadPointer(pointer), attributes: { [EXTENDED_PAYLOAD_SIZE_ATTRIBUTE]: { DataType: 'Number', StringValue: String(bytes) } } };
}

/**
 * The pointer a body carries, or `undefined` for an ordinary body (anything that is not a JSON
 * array starting with {@link PAYLOAD_POINTER_CLASS}: the message parser judges it).
 * @throws MessageValidationError for a pointer that is malformed, with the field path (`$[1].s3Key`).
 */
export function readPayloadPointer(body: string): PayloadPointer | undefined {
  // Cheap test first: an ordinary body is a JSON object and is never parsed twice.
  if (!/^\s*\[/.test(body)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (!Array.isArray(value) || value[0] !== PAYLOAD_POINTER_CLASS) return undefined;
  const fail = (path: string, message: string): never => {
    throw new MessageValidationError([{ path, message }]);
  };
  if (value.length !== 2) fail('$', `an S3 pointer must have 2 elements ("${PAYLOAD_POINTER_CLASS}" and {s3BucketName, s3Key}); it has ${value.length}`);
  const target: unknown = value[1];
  if (target === null || typeof target !== 'object' || Array.isArray(target)) return fail('$[1]', 'must be an object {s3BucketName, s3Key}');
  const fields = target as Record<string, unknown>;
  const unknown = Object.keys(fields).filter((k) => k !== 's3BucketName' && k !== 's3Key');
  if (unknown.length) fail(`$[1].${logSafe(unknown[0] ?? '')}`, 'is not a field of an S3 pointer (s3BucketName, s3Key)');
  const bucket = fields['s3BucketName'];
  const key = fields['s3Key'];
  // S3 bucket naming rules: 3–63 of a-z 0-9 . -
  if (typeof bucket !== 'string' || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) fail('$[1].s3BucketName', 'must be an S3 bucket name (3 to 63 of a-z, 0-9, "." and "-")');
  if (typeof key !== 'string' || key === '') return fail('$[1].s3Key', 'must be a non-empty string');
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) fail('$[1].s3Key', `must be at most ${MAX_KEY_BYTES} bytes`);
  const bad = unsafeCharacter(key);
  if (bad) fail('$[1].s3Key', `must not contain ${bad}`);
  return { bucket: bucket as string, key };
}

/**
 * The size a producer declared in `ExtendedPayloadSize` (or the legacy name), when it is a
 * whole number; `undefined` when absent. A size above the limit lets the worker refuse without
 * reading the object.
 */
export function declaredPayloadSize(attributes: Readonly<Record<string, { readonly stringValue?: string | undefined }>> | undefined): number | undefined {
  const raw = attributes?.[EXTENDED_PAYLOAD_SIZE_ATTRIBUTE]?.stringValue ?? attributes?.[LEGACY_PAYLOAD_SIZE_ATTRIBUTE]?.stringValue;
  if (raw === undefined) return undefined;
  const size = Number(raw);
  return Number.isSafeInteger(size) && size >= 0 ? size : undefined;
}

/** `s3://bucket/key` for log lines and reasons (the key is checked free of controls). */
export function describePointer(pointer: PayloadPointer): string {
  return `s3://${pointer.bucket}/${pointer.key}`;
}

/** 40 MiB, 5.2 MiB: for messages. */
export function formatMiB(bytes: number): string {
  const mib = bytes / 1_048_576;
  return `${Number.isInteger(mib) ? mib : mib.toFixed(1)} MiB`;
}

function logSafe(name: string): string {
  return name.replace(/[^\w.-]/g, '?').slice(0, 64);
}
