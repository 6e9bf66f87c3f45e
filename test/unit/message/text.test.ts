import { describe, expect, it } from 'vitest';
import { codePointLength, headerSafeString, jsonTreeIssues, logSafePath, nonPrintableCharacter } from '../../../lambda/core/message/index.js';

describe('nonPrintableCharacter', () => {
  it.each([
    ['order-1234', undefined],
    ['with spaces and ünïcödé 😀', undefined],
    ['tab\there', 'TAB'],
    ['nul\0', 'NUL'],
    ['del\u007f', 'DEL'],
    ['c1\u0090', 'control character U+0090'],
    ['nel\u0085', 'NEL (U+0085)'],
    ['ls\u2028', 'U+2028'],
  ])('describes %j as %j', (value, expected) => {
    // Act & Assess
    expect(nonPrintableCharacter(value)).toBe(expected);
  });
});

describe('codePointLength', () => {
  it('counts code points, not UTF-16 units', () => {
    // Act & Assess
    expect(codePointLength('a😀b')).toBe(3);
    expect(codePointLength('')).toBe(0);
  });
});

describe('headerSafeString', () => {
  it('reports emptiness, length and unsafe characters together', () => {
    // Prepare
    const schema = headerSafeString({ max: 3 });

    // Act
    const result = schema.safeParse('a\nbcd');

    // Assess
    expect(result.error?.issues.map((issue) => issue.message)).toEqual(['must be at most 3 characters', 'must not contain LF']);
    expect(schema.safeParse('').error?.issues.map((issue) => issue.message)).toEqual(['must not be empty']);
    expect(headerSafeString({ max: 3, allowEmpty: true }).safeParse('').success).toBe(true);
    expect(schema.safeParse('a\tb').success).toBe(true);
  });
});

describe('jsonTreeIssues', () => {
  it('reports lone surrogates in values and names, and __proto__, in document order', () => {
    // Prepare
    const tree = JSON.parse('{"a":["ok","\\udc00"],"b":{"\\ud800x":1},"__proto__":{},"c":"\\ud83d\\ude00"}') as unknown;

    // Act
    const issues = jsonTreeIssues(tree);

    // Assess
    expect(issues).toEqual([
      { path: 'a[1]', message: 'must be well-formed Unicode (holds a lone surrogate)' },
      { path: 'b.\ud800x', message: 'name must be well-formed Unicode (holds a lone surrogate)' },
      { path: '__proto__', message: 'is a reserved name' },
    ]);
  });

  it('stops at the depth limit with one issue at $', () => {
    // Prepare
    const tree = JSON.parse(`{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}`) as unknown;

    // Act & Assess
    expect(jsonTreeIssues(tree)).toEqual([{ path: '$', message: 'must not nest deeper than 16 levels' }]);
  });

  it('finds nothing wrong with an ordinary body', () => {
    // Act & Assess
    expect(jsonTreeIssues({ from: 'a@acme.example', to: ['b@example.net'], tags: { x: 'y' } })).toEqual([]);
  });
});

describe('logSafePath', () => {
  it('escapes the characters that must not reach a log line', () => {
    // Act & Assess
    expect(logSafePath('headers.X-A\r\nB')).toBe('headers.X-A\\u{D}\\u{A}B');
    expect(logSafePath('tags.a\u2029\u0085\u007f\ud800')).toBe('tags.a\\u{2029}\\u{85}\\u{7F}\\u{D800}');
    expect(logSafePath('to[1]')).toBe('to[1]');
    expect(logSafePath('headers.X\tY')).toBe('headers.X\tY');
  });
});
