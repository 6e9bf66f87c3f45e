/**
 * A keysource given on the command line or in an environment variable: JSON
 * (`{"secret":"mailrelay/gateway-tls","field":"cert"}`) or the short form the CLI prints
 * (`secret:mailrelay/gateway-tls#cert`, `parameter:/mailrelay/gateway/key`, `env:MAILRELAY_GATEWAY_KEY`).
 */
import { keysourceSchema, type Keysource } from '../../lambda/core/config/schema.js';
import { formatIssues } from '../../lambda/core/errors.js';
import { toFieldIssues } from '../../lambda/core/validation.js';

/**
 * @throws Error naming what is wrong with the argument.
 * @example
 * parseKeysourceArgument('secret:mailrelay/gateway-tls#cert'); // { secret: 'mailrelay/gateway-tls', field: 'cert' }
 */
export function parseKeysourceArgument(text: string): Keysource {
  const trimmed = text.trim();
  let candidate: unknown;
  if (trimmed.startsWith('{')) {
    try {
      candidate = JSON.parse(trimmed);
    } catch (error) {
      throw new Error(`is not valid JSON: ${(error as Error).message}`, { cause: error });
    }
  } else {
    const colon = trimmed.indexOf(':');
    const kind = colon < 0 ? '' : trimmed.slice(0, colon);
    const rest = trimmed.slice(colon + 1);
    if (kind === 'secret') {
      const hash = rest.indexOf('#');
      candidate = hash < 0 ? { secret: rest } : { secret: rest.slice(0, hash), field: rest.slice(hash + 1) };
    } else if (kind === 'parameter') candidate = { parameter: rest };
    else if (kind === 'env') candidate = { env: rest };
    else throw new Error('must be secret:NAME[#FIELD], parameter:NAME, env:NAME or a JSON keysource');
  }
  const result = keysourceSchema.safeParse(candidate);
  if (!result.success) throw new Error(formatIssues(toFieldIssues(result.error)));
  return result.data;
}
