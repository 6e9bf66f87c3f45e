/**
 * The disposition line (lambda/worker/report.ts): one per recipient, `outcome` on every line,
 * `disposition` only where it refines a failed outcome.
 */
import { describe, expect, it } from 'vitest';
import type { Disposition } from '../../../lambda/worker/disposition.js';
import { recordDispositions } from '../../../lambda/worker/report.js';

function logged(dispositions: Disposition[]): { level: string; message: string; extra: Record<string, unknown> }[] {
  const lines: { level: string; message: string; extra: Record<string, unknown> }[] = [];
  const at = (level: string) => (message: string, extra: Record<string, unknown> = {}) => lines.push({ level, message, extra });
  recordDispositions(dispositions, { sqsMessageId: 'm-1', idempotencyKey: 'k-1' }, { logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, metrics: { addMetric: () => undefined } });
  return lines;
}

describe('recordDispositions', () => {
  it('a delivered recipient: one info line "relayed" with outcome delivered and no repeated disposition', () => {
    // Act
    const [line, ...rest] = logged([{ recipient: 'bob@example.net', status: 'delivered', smtpCode: 250, smtpReply: '250 2.0.0 queued as 4Xz', route: 'smtp.example:587 starttls PLAIN user=u', mechanism: 'PLAIN', attempt: 1 }]);

    // Assess
    expect(rest).toEqual([]);
    expect(line).toMatchObject({ level: 'info', message: 'relayed', extra: { sqsMessageId: 'm-1', idempotencyKey: 'k-1', recipient: 'bob@example.net', outcome: 'delivered', smtpCode: 250, smtpReply: '250 2.0.0 queued as 4Xz', route: 'smtp.example:587 starttls PLAIN user=u', mechanism: 'PLAIN' } });
    expect(line!.extra).not.toHaveProperty('disposition');
  });

  it('a failed outcome names its disposition: bounced or dead-lettered', () => {
    // Act
    const lines = logged([
      { recipient: 'a@example.net', status: 'bounced', smtpCode: 550, reason: 'unknown-recipient', attempt: 1 },
      { recipient: 'b@example.net', status: 'dead-lettered', reason: 'retries-exhausted:connection', attempt: 10 },
      { recipient: 'c@example.net', status: 'deferred', reason: 'connection', attempt: 2 },
    ]);

    // Assess
    expect(lines.map((l) => [l.level, l.message, l.extra['outcome'], l.extra['disposition']])).toEqual([
      ['warn', 'rejected', 'failed', 'bounced'],
      ['warn', 'rejected', 'failed', 'dead-lettered'],
      ['warn', 'deferred', 'deferred', undefined],
    ]);
  });
});
