/** AWS SDK failures as mailrelay's transient/permanent errors. */
import { PermanentDeliveryError, TransientDeliveryError, type DeliveryError, type FailureReason } from '../core/errors.js';

const THROTTLING = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'ThrottledException',
  'LimitExceededException',
]);

export function awsErrorName(error: unknown): string {
  const e = error as { name?: string; Code?: string; __type?: string };
  return e?.name ?? e?.Code ?? 'Error';
}

/**
 * @param notFoundReason the reason to use when the error says the thing does not exist
 *   (a missing secret is a configuration error: permanent).
 */
export function classifyAwsError(error: unknown, what: string, notFoundReason?: FailureReason): DeliveryError {
  const name = awsErrorName(error);
  const message = `${what}: ${name}: ${(error as Error)?.message ?? String(error)}`;
  if (THROTTLING.has(name)) return new TransientDeliveryError(message, { reason: 'aws-throttled' }, { cause: error });
  if (notFoundReason && /NotFound/.test(name)) return new PermanentDeliveryError(message, { reason: notFoundReason }, { cause: error });
  if (name === 'AccessDeniedException' || name === 'AccessDenied') {
    // An IAM policy that forbids the read is configuration: waiting will not fix it.
    return new PermanentDeliveryError(message, { reason: 'config-error' }, { cause: error });
  }
  return new TransientDeliveryError(message, { reason: 'aws-error' }, { cause: error });
}
