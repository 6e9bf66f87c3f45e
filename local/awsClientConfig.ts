/** Static dummy credentials: the local stand-ins never check signatures. */
export const LOCAL_AWS_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;

/** Region every local stand-in assumes (ARNs, queue URLs). */
export const LOCAL_AWS_REGION = 'us-east-1';

/** Client configuration for a real AWS SDK v3 client pointed at a local stand-in. */
export interface LocalAwsClientConfig {
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  maxAttempts?: number;
}

/**
 * The configuration that points an AWS SDK v3 client at a local endpoint (dynalite, fauxqs, the
 * secrets endpoint), with dummy credentials and region us-east-1.
 *
 * @param endpoint - the stand-in's URL, e.g. `dynamo.endpoint` or `secrets.url`
 * @param maxAttempts - SDK attempts per call.  @default the SDK's own (3)
 * @example
 * ```ts
 * const client = new DynamoDBClient(localAwsClientConfig(dynamo.endpoint));
 * ```
 */
export function localAwsClientConfig(endpoint: string, maxAttempts?: number): LocalAwsClientConfig {
  return {
    endpoint,
    region: LOCAL_AWS_REGION,
    credentials: { ...LOCAL_AWS_CREDENTIALS },
    ...(maxAttempts !== undefined ? { maxAttempts } : {}),
  };
}
