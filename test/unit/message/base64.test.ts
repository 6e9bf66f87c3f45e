import { describe, expect, it } from 'vitest';
import { decodeStrictBase64 } from '../../../lambda/core/message/index.js';

describe('decodeStrictBase64', () => {
  it.each([
    ['', ''],
    ['aGVsbG8=', 'hello'],
    ['aGVsbA==', 'hell'],
    ['aGVs', 'hel'],
    ['aGVs\r\nbG8=', 'hello'],
    ['aGVs\nbG8=\n', 'hello'],
    ['\r\naGVsbG8=\r\n', 'hello'],
    ['+/+/', '\u00fb\u00ff\u00bf'],
  ])('decodes %j', (input, expected) => {
    // Act
    const result = decodeStrictBase64(input);

    // Assess
    expect(result).toEqual({ ok: true, bytes: Buffer.from(expected, 'latin1') });
  });

  it('round-trips binary content of every length', () => {
    // Prepare
    const bytes = Buffer.from(Array.from({ length: 300 }, (_, index) => (index * 37) % 256));

    for (let length = 0; length < 10; length++) {
      // Act
      const result = decodeStrictBase64(bytes.subarray(0, length).toString('base64'));

      // Assess
      expect(result).toEqual({ ok: true, bytes: bytes.subarray(0, length) });
    }
  });

  it('decodes an attachment of 30 MiB in one line (the largest that fits a 40 MiB payload)', () => {
    // Prepare: a regex over the whole text overflowed V8's stack from ~4 MiB on
    const bytes = Buffer.alloc(30 * 1_048_576, 0xa5);

    // Act
    const result = decodeStrictBase64(bytes.toString('base64'));

    // Assess
    expect(result.ok && result.bytes.equals(bytes)).toBe(true);
  });

  it.each([
    ['aGVsbG8', /must be padded base64/],
    ['aGVsbA=', /must be padded base64/],
    ['aGVsbG8==', /must be padded base64/],
    ['aGVs bG8=', /found a space at offset 4/],
    ['aGVs\tbG8=', /found a TAB/],
    ['aGVs\rbG8=', /found a CR without LF/],
    ['aGVs-G8=', /URL-safe base64 is not accepted/],
    ['aGVs_G8=', /URL-safe base64 is not accepted/],
    ['aGVs*G8=', /found "\*"/],
    ['aGVsbG8=\u00e9', /found U\+00E9/],
    ['aG=sbG8=', /"=" only as padding at the end/],
    ['aGVsbG8=aGVsbG8=', /"=" only as padding at the end/],
    ['====', /"=" only as padding at the end/],
    ['aG=A', /"=" only as padding at the end/],
    ['aGV=aGVs', /"=" only as padding at the end/],
    ['aGVsbG9=', /not canonical base64/],
    ['QR==', /not canonical base64/],
  ])('refuses %j', (input, reason) => {
    // Act
    const result = decodeStrictBase64(input);

    // Assess
    expect(result.ok).toBe(false);
    expect(result.ok ? '' : result.reason).toMatch(reason);
  });
});
