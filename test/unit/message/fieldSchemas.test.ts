/**
 * Schemas of fields only some messages have are built on the first message that has the field
 * (lambda/core/validation.ts `builtOnFirstUse`, lambda/core/message/schema.ts): a cold start that
 * never sees an attachment never builds the attachment schema. The schema built is the one an
 * eager `const` held, so the results and messages are those of test/unit/message/*.
 */
import * as z from 'zod/mini';
import { describe, expect, it, vi } from 'vitest';
import { messageFieldSchemas, parseMessageFields } from '../../../lambda/core/message/schema.js';
import { builtOnFirstUse } from '../../../lambda/core/validation.js';

describe('builtOnFirstUse', () => {
  it('builds nothing until first used, then builds once and returns the same schema', () => {
    const build = vi.fn(() => z.string());
    const schema = builtOnFirstUse(build);
    expect(build).not.toHaveBeenCalled();
    const first = schema();
    expect(schema()).toBe(first);
    expect(build).toHaveBeenCalledTimes(1);
  });
});

describe('message field schemas', () => {
  it('the fields most messages lack are built on first use: attachments, listUnsubscribe, submission', () => {
    const lazy = Object.entries(messageFieldSchemas)
      .filter(([, field]) => typeof field === 'function')
      .map(([name]) => name);
    expect(lazy.sort()).toEqual(['attachments', 'listUnsubscribe', 'submission']);
  });

  it('a field built on first use parses and reports as the eager ones do, at its own path', () => {
    const { fields, issues } = parseMessageFields({
      attachments: [{ filename: 'C:\\r\\r.pdf', content: Buffer.from('pdf').toString('base64') }, { filename: 'x', content: '!' }],
      listUnsubscribe: { url: 'https://lists.example/u?t=1' },
      submission: { authnId: 'u', authzId: 'u', clientAddress: '127.0.0.1', receivedAt: 'yesterday' },
    });
    expect(fields.listUnsubscribe).toEqual({ url: 'https://lists.example/u?t=1' });
    expect(fields.attachments).toBeUndefined();
    expect(issues.map((i) => i.path)).toEqual(['attachments[1].content', 'submission.receivedAt']);
    expect(issues[1]!.message).toBe('must be an ISO 8601 date-time');
  });
});
