/**
 * Reads the DATA of one submission and checks it on the way in, byte by byte across chunk
 * boundaries: size, line length (RFC 5322 §2.1.1, as the worker checks `raw`, docs/design.md §1.1)
 * and line endings. A bare LF or a bare CR is refused, as Postfix does since the 2023 SMTP
 * smuggling disclosures (`smtpd_forbid_bare_newline`): a relay further on may read it as a line
 * end and find a second message where this one saw text.
 */
import type { Readable } from 'node:stream';
import { MAX_LINE_OCTETS } from '../../lambda/core/message/constants.js';

const CR = 0x0d;
const LF = 0x0a;

export type MessageDataResult =
  | { readonly ok: true; readonly data: Buffer }
  | {
      readonly ok: false;
      readonly code: 552 | 554;
      readonly message: string;
      readonly reason: 'too-large' | 'bare-lf' | 'bare-cr' | 'line-too-long';
    };

/**
 * Drain `stream` (always to its end, so the SMTP session stays in step) and judge the message.
 * Keeps at most `maxBytes` in memory.
 * @example
 * const result = await readMessageData(stream, 983_040);
 * if (!result.ok) callback(Object.assign(new Error(result.message), { responseCode: result.code }));
 */
export async function readMessageData(stream: Readable, maxBytes: number): Promise<MessageDataResult> {
  const chunks: Buffer[] = [];
  let size = 0;
  let previous = -1;
  let line = 1;
  let lineLength = 0;
  let problem: Exclude<MessageDataResult, { ok: true }> | undefined;

  for await (const chunk of stream as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (problem) continue;
    if (size > maxBytes) {
      problem = tooLarge(maxBytes);
      chunks.length = 0;
      continue;
    }
    for (let i = 0; i < chunk.length && !problem; i++) {
      const byte = chunk[i]!;
      if (previous === CR && byte !== LF) problem = bareCr(line);
      else if (byte === LF) {
        if (previous !== CR) problem = bareLf(line);
        line++;
        lineLength = 0;
      } else if (byte !== CR && ++lineLength > MAX_LINE_OCTETS) problem = lineTooLong(line);
      previous = byte;
    }
    if (!problem) chunks.push(chunk);
  }
  if (!problem && size > maxBytes) problem = tooLarge(maxBytes);
  if (!problem && previous === CR) problem = bareCr(line);
  if (problem) return problem;
  return { ok: true, data: Buffer.concat(chunks, size) };
}

function tooLarge(maxBytes: number): Exclude<MessageDataResult, { ok: true }> {
  return { ok: false, code: 552, reason: 'too-large', message: `Message exceeds the maximum size of ${maxBytes} bytes` };
}

function bareLf(line: number): Exclude<MessageDataResult, { ok: true }> {
  return { ok: false, code: 554, reason: 'bare-lf', message: `Message refused: bare LF (a line feed without CR) at line ${line}; SMTP requires CRLF line endings` };
}

function bareCr(line: number): Exclude<MessageDataResult, { ok: true }> {
  return { ok: false, code: 554, reason: 'bare-cr', message: `Message refused: bare CR (a carriage return without LF) at line ${line}; SMTP requires CRLF line endings` };
}

function lineTooLong(line: number): Exclude<MessageDataResult, { ok: true }> {
  return { ok: false, code: 554, reason: 'line-too-long', message: `Message refused: line ${line} is longer than ${MAX_LINE_OCTETS} octets (RFC 5322 2.1.1)` };
}
