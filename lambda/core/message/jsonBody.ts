/** The SQS body as a JSON object (docs/design.md §1: UTF-8 JSON, at most 1 MiB). */
import type { FieldIssue } from '../errors.js';
import { MAX_BODY_BYTES } from './constants.js';

export type JsonBodyResult = { readonly ok: true; readonly value: Record<string, unknown> } | { readonly ok: false; readonly issue: FieldIssue };

/**
 * Parse the body, or say at `$` why it is not a JSON object. Parse errors give a position, never
 * an excerpt: the body may hold anything, and the reason ends up in logs and DLQ attributes.
 */
export function readJsonBody(body: unknown, maxBytes: number = MAX_BODY_BYTES): JsonBodyResult {
  if (typeof body !== 'string') return fail('must be a string of UTF-8 JSON');
  const bytes = Buffer.byteLength(body, 'utf8');
  if (bytes > maxBytes) return fail(`must be at most ${maxBytes / 1_048_576} MiB (${maxBytes.toLocaleString('en-US')} bytes); it has ${bytes.toLocaleString('en-US')}`);
  if (body.trim() === '') return fail('is empty: must be a JSON object');
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (error) {
    const position = /position (\d+)/.exec(error instanceof Error ? error.message : '')?.[1];
    return fail(`must be a JSON object: the body is not valid JSON${position === undefined ? '' : ` (error at position ${position})`}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return fail(`must be a JSON object, not ${value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`}`);
  }
  return { ok: true, value: value as Record<string, unknown> };
}

function fail(message: string): JsonBodyResult {
  return { ok: false, issue: { path: '$', message } };
}
