/** The worker's own ConfigStore on the target's table, without a cache (the CLI wants what is stored now). */
import { DynamoConfigStore } from '../lambda/adapters/dynamoConfigStore.js';
import type { Target } from './target.js';

export async function configStore(target: Target): Promise<DynamoConfigStore> {
  return new DynamoConfigStore({ client: await target.dynamo(), tableName: target.configTable(), cacheTtlMs: 0 });
}
