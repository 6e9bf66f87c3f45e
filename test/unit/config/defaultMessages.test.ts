/**
 * Where a schema words no message of its own, zod's English locale does ("Invalid input: expected
 * string, received number"). zod/mini loads no locale (lambda/core/zodLocale.ts loads it): without
 * it each of these would read only "Invalid input", which names no reason.
 */
import { describe, expect, it } from 'vitest';
import { parseHookAnswer } from '../../../lambda/core/authHook/index.js';
import { parseConfigItem } from '../../../lambda/core/config/schema.js';
import { parseSubmitterItem } from '../../../lambda/core/config/submitter.js';
import { ConfigValidationError, PermanentDeliveryError } from '../../../lambda/core/errors.js';
import { issuesOf } from '../message/helpers.js';

function configIssues(parse: (input: unknown) => unknown, input: unknown): string[] {
  try {
    parse(input);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigValidationError);
    return (error as ConfigValidationError).issues.map((i) => `${i.path}: ${i.message}`);
  }
  return expect.fail('the item was accepted');
}

describe("zod's default messages", () => {
  it('name the expected and the received type in a config item', () => {
    expect(configIssues(parseConfigItem, { scope: 'global', updatedAt: 5, relay: 'smtp.example.com', auth: { user: 'u', pass: ['s'] } })).toEqual([
      'relay: Invalid input: expected object, received string',
      'auth.pass: must be one of { "secret": id, "field"?: key }, { "parameter": name }, { "env": name }, { "value": "..." }',
      'updatedAt: Invalid input: expected string, received number',
    ]);
    expect(configIssues(parseConfigItem, { scope: 7, limits: [], description: false })).toEqual([
      'scope: Invalid input: expected string, received number',
      'description: Invalid input: expected string, received boolean',
      'limits: Invalid input: expected object, received array',
    ]);
  });

  it('name them in a submitter item', () => {
    expect(configIssues(parseSubmitterItem, { scope: 'submitter#app1', password: { secret: 's' }, binding: 'acme', fromDomains: ['acme.example'], updatedAt: {} })).toEqual([
      'updatedAt: Invalid input: expected string, received object',
    ]);
  });

  it('name them in a queue message', () => {
    expect(issuesOf({ raw: 'From: a@acme.example\r\n\r\nx', envelope: { from: 'a@acme.example', to: ['b@example.net'] }, auth: 'secret-name' })).toEqual([
      { path: 'auth', message: 'Invalid input: expected object, received string' },
    ]);
  });

  it("name them in the auth hook's answer", () => {
    expect(() => parseHookAnswer({ oauth2: 'token' })).toThrow(PermanentDeliveryError);
    expect(() => parseHookAnswer({ oauth2: 'token' })).toThrow('the auth hook answered with an invalid field: hook.oauth2: Invalid input: expected object, received string');
  });
});
