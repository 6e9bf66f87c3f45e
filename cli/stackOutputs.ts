/**
 * `--stack NAME`: the queue URLs and table names of a deployed mailrelay stack, read from its
 * CloudFormation outputs (DescribeStacks) instead of flags or environment variables. The output
 * keys are the ones the stack writes (STACK_OUTPUT in lambda/core/names.ts).
 */
import type { CloudFormationClient, Stack } from '@aws-sdk/client-cloudformation';
import { STACK_OUTPUT } from '../lambda/core/names.js';
import { CliError } from './errors.js';

/** Output key → value, as the stack has them. */
export type StackOutputs = ReadonlyMap<string, string>;

/**
 * @throws CliError when the stack does not exist or is not a mailrelay stack (it has no QueueUrl
 *   output): the message names the stack and the region's account the lookup went to.
 */
export async function readStackOutputs(client: Pick<CloudFormationClient, 'send'>, stackName: string): Promise<StackOutputs> {
  const { DescribeStacksCommand } = await import('@aws-sdk/client-cloudformation');
  let stacks: Stack[];
  try {
    ({ Stacks: stacks = [] } = await client.send(new DescribeStacksCommand({ StackName: stackName })));
  } catch (error) {
    const e = error as { name?: string; message?: string };
    // CloudFormation answers a missing stack with a ValidationError "Stack with id X does not exist"
    if (e?.name === 'ValidationError' && /does not exist/.test(e.message ?? '')) {
      throw new CliError(`stack ${stackName} not found (check --region / --profile): ${e.message}`, 1, { cause: error });
    }
    throw error;
  }
  const stack = stacks[0];
  if (!stack) throw new CliError(`stack ${stackName} not found (check --region / --profile)`, 1);
  const outputs = new Map<string, string>();
  for (const o of stack.Outputs ?? []) if (o.OutputKey && o.OutputValue !== undefined) outputs.set(o.OutputKey, o.OutputValue);
  if (!outputs.has(STACK_OUTPUT.queueUrl)) {
    throw new CliError(`stack ${stackName} (${stack.StackStatus ?? 'status unknown'}) has no ${STACK_OUTPUT.queueUrl} output: is it a mailrelay stack, and did its deployment finish?`, 1);
  }
  return outputs;
}
