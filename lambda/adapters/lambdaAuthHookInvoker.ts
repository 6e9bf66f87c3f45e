/**
 * The function hook's adapter (docs/design.md §2, `auth.hookFunction`): a synchronous Lambda
 * Invoke (RequestResponse) with the hook context as the JSON payload. The SDK honours
 * AWS_ENDPOINT_URL_LAMBDA, so the same code runs against local/lambdaEndpoint.ts.
 */
import { InvokeCommand, LambdaClient, type LambdaClientConfig } from '@aws-sdk/client-lambda';
import type { AuthHookContext, AuthHookInvoker } from '../core/authHook/types.js';
import { PermanentDeliveryError } from '../core/errors.js';

export class LambdaAuthHookInvoker implements AuthHookInvoker {
  public constructor(private readonly client: LambdaClient) {}

  /** An invoker with its own client: what the worker imports when a function hook is first invoked (lambda/adapters/lazy.ts). */
  public static create(config: LambdaClientConfig): LambdaAuthHookInvoker {
    return new LambdaAuthHookInvoker(new LambdaClient(config));
  }

  /**
   * @returns the function's answer parsed from JSON (`null` when it returned nothing).
   * @throws the SDK's error (throttled, not found, denied, timed out) or an Error for a function
   *   that raised; PermanentDeliveryError when the payload is not JSON (a malformed answer).
   */
  public async invoke(functionName: string, context: AuthHookContext, options: { readonly signal: AbortSignal }): Promise<unknown> {
    const out = await this.client.send(
      new InvokeCommand({ FunctionName: functionName, InvocationType: 'RequestResponse', Payload: Buffer.from(JSON.stringify(context)) }),
      { abortSignal: options.signal },
    );
    const text = out.Payload ? Buffer.from(out.Payload).toString('utf8').trim() : '';
    if (out.FunctionError) throw new Error(`${functionName} raised an error (${out.FunctionError}): ${errorMessageOf(text)}`);
    if (text === '') return null;
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new PermanentDeliveryError(`the auth hook answered with an invalid field: hook: the function ${functionName} returned a payload that is not JSON`, { reason: 'config-error' });
    }
  }
}

/** A raised function's `errorMessage` (its payload is `{ errorType, errorMessage, trace }`), bounded. */
function errorMessageOf(text: string): string {
  let message = text;
  try {
    const parsed = JSON.parse(text) as { errorMessage?: unknown; errorType?: unknown };
    if (typeof parsed.errorMessage === 'string') message = `${typeof parsed.errorType === 'string' ? `${parsed.errorType}: ` : ''}${parsed.errorMessage}`;
  } catch {
    // not JSON: quote as is
  }
  return message.length > 200 ? `${message.slice(0, 200)}…` : message;
}
