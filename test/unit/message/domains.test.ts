import { describe, expect, it } from 'vitest';
import { toALabel } from '../../../lambda/core/message/index.js';

describe('toALabel', () => {
  it.each([
    ['example.net', 'example.net'],
    ['Example.NET', 'example.net'],
    ['Bücher.example', 'xn--bcher-kva.example'],
    ['xn--bcher-kva.example', 'xn--bcher-kva.example'],
    ['faß.de', 'xn--fa-hia.de'],
    ['ＥＸＡＭＰＬＥ.com', 'example.com'],
    ['mail-1.sub.example.co.uk', 'mail-1.sub.example.co.uk'],
    ['123.example', '123.example'],
  ])('turns %j into %j', (input, expected) => {
    // Act & Assess
    expect(toALabel(input)).toEqual({ ok: true, domain: expected });
  });

  it.each([
    ['', /is empty/],
    ['[192.0.2.1]', /address literals/],
    ['ex%61mple.com', /may only hold letters, digits/],
    ['exa_mple.com', /may only hold letters, digits/],
    ['exa mple.com', /may only hold letters, digits/],
    ['localhost', /fully qualified/],
    ['-example.com', /labels must be 1-63/],
    ['example-.com', /labels must be 1-63/],
    ['example..com', /labels must be 1-63/],
    ['example.com.', /labels must be 1-63/],
    [`${'a'.repeat(64)}.com`, /labels must be 1-63/],
    [`${'a.'.repeat(127)}com`, /at most 253 characters/],
    ['192.0.2.1', /numeric label/],
    ['xn--zz.com', /not a valid \(internationalised\) domain name/],
  ])('refuses %j', (input, reason) => {
    // Act
    const result = toALabel(input);

    // Assess
    expect(result.ok).toBe(false);
    expect(result.ok ? '' : result.reason).toMatch(reason);
  });
});
