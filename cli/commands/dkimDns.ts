/**
 * `mailrelay dkim dns --binding NAME`: the DNS TXT record to publish for the binding's DKIM
 * signer (docs/design.md §2 `dkim`), derived from its private key, which is read as the worker
 * reads it. Only the public half is printed.
 */
import { AwsSecretSource } from '../../lambda/adapters/awsSecretSource.js';
import { bindingLayers, mergeDkim, type SettingOrigin } from '../../lambda/core/config/resolve.js';
import { NAME_PATTERN } from '../../lambda/core/config/schema.js';
import { dkimDnsRecord } from '../../lambda/core/dkim/key.js';
import { loadDkimKey } from '../../lambda/core/dkim/sign.js';
import { ConfigValidationError, isDeliveryError } from '../../lambda/core/errors.js';
import { describeKeysource } from '../../lambda/core/keysources.js';
import type { CommandRun } from '../command.js';
import { str } from '../command.js';
import { configStore } from '../configStore.js';
import { CliError, UsageError } from '../errors.js';
import { printJson } from '../io.js';

export const run: CommandRun = async ({ values }, ctx) => {
  const cmd = 'dkim dns';
  const binding = str(values['binding']);
  if (binding === undefined) throw new UsageError('give --binding NAME (the sender domain, or the binding a producer names)', cmd);
  if (!NAME_PATTERN.test(binding)) throw new UsageError(`--binding ${JSON.stringify(binding)}: must be 1-128 letters, digits, ".", "_" or "-"`, cmd);

  const target = ctx.target();
  const layers = await bindingLayers(binding.toLowerCase(), await configStore(target));
  if (layers instanceof ConfigValidationError) throw new CliError(layers.message);
  const origins: Record<string, SettingOrigin> = {};
  const dkim = mergeDkim(layers, origins);
  if (!dkim) throw new CliError(`binding ${binding.toLowerCase()} has no dkim signer: no global, binding-group or binding item sets "dkim"`);

  const secrets = new AwsSecretSource({ secretsManager: await target.secretsManager(), ssm: await target.ssm(), prefix: target.secretPrefix, cacheTtlMs: 0 });
  let record;
  try {
    record = dkimDnsRecord(await loadDkimKey(dkim, secrets), dkim.domain, dkim.selector);
  } catch (error) {
    if (isDeliveryError(error)) throw new CliError(error.message, 1, { cause: error });
    throw error;
  }

  if (ctx.json) {
    printJson(ctx.io, { binding: binding.toLowerCase(), from: origins['dkim.domain'], domain: dkim.domain, selector: dkim.selector, privateKey: describeKeysource(dkim.privateKey), type: 'TXT', ...record });
    return 0;
  }
  const out = ctx.io.out;
  out(`DKIM signer of binding ${binding.toLowerCase()} (from ${origins['dkim.domain']}): d=${dkim.domain} s=${dkim.selector}, key ${describeKeysource(dkim.privateKey)}`);
  out('');
  out('Publish this TXT record (zone-file form; the value is split into strings of at most 255 characters):');
  out('');
  out(`${record.name}. 3600 IN TXT ( ${record.strings.map((s) => JSON.stringify(s)).join(' ')} )`);
  out('');
  out('The value as one line, for DNS consoles that split it themselves:');
  out('');
  out(record.value);
  return 0;
};
