/** Factories for queue-message bodies and a helper that collects the issues a body is refused with. */
import { expect } from 'vitest';
import type { FieldIssue } from '../../../lambda/core/errors.js';
import { MessageValidationError } from '../../../lambda/core/errors.js';
import { parseQueueMessage } from '../../../lambda/core/message/index.js';
import type { QueueMessage } from '../../../lambda/core/message/index.js';

export const SQS_MESSAGE_ID = '059f36b4-87a3-44ab-83d2-661975830a7d';

/** The smallest valid structured body, with overrides. */
export function structuredBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { from: 'Acme Billing <billing@acme.example>', to: ['bob@example.net'], subject: 'Your receipt', text: 'plain body', ...overrides };
}

/** The smallest valid raw body, with overrides. */
export function rawBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { raw: 'From: billing@acme.example\r\nTo: bob@example.net\r\nSubject: Hi\r\n\r\nHello\r\n', ...overrides };
}

export function parse(body: Record<string, unknown> | string): QueueMessage {
  return parseQueueMessage(typeof body === 'string' ? body : JSON.stringify(body), { fallbackIdempotencyKey: SQS_MESSAGE_ID });
}

/** The issues a body is refused with; fails the test if it is accepted or fails otherwise. */
export function issuesOf(body: Record<string, unknown> | string): readonly FieldIssue[] {
  try {
    parse(body);
  } catch (error) {
    expect(error).toBeInstanceOf(MessageValidationError);
    return (error as MessageValidationError).issues;
  }
  expect.fail('the body was accepted');
}

/** The messages reported at one path. */
export function messagesAt(issues: readonly FieldIssue[], path: string): string[] {
  return issues.filter((issue) => issue.path === path).map((issue) => issue.message);
}
