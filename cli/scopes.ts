/** A SCOPE operand (`global`, `binding#acme`, `domain#partner.example`) as the table stores it. */
import { SCOPE_PATTERN } from '../lambda/core/config/schema.js';
import { UsageError } from './errors.js';

/**
 * @throws UsageError when the operand is not a scope.
 * @example
 * scopeOperand('config get', 'Domain#Partner.Example'); // 'domain#partner.example'
 */
export function scopeOperand(command: string, positionals: readonly string[]): string {
  if (positionals.length !== 1) throw new UsageError(`give exactly one SCOPE (got ${positionals.length})`, command);
  const scope = positionals[0]!.toLowerCase();
  if (!SCOPE_PATTERN.test(scope)) {
    throw new UsageError(`${JSON.stringify(positionals[0])} is not a scope: write global, binding-group#<name>, binding#<name> or domain#<domain> (quote it in the shell: 'domain#x.example')`, command);
  }
  return scope;
}
