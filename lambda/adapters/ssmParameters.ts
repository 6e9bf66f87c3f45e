/**
 * The two pieces of the SSM client the worker uses, in a module of their own so that the
 * `import()`s naming it (lambda/adapters/lazy.ts) load those two and nothing else of the SDK's
 * SSM package: a dynamically imported module keeps every export it has.
 */
export { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
