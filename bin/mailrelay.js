#!/usr/bin/env node
/* global AbortController */
// The `mailrelay` command: runs cli/main.ts through tsx's loader, in this same process.
import { register } from 'tsx/esm/api';

// This warning is about the SDK's future Node support, not about anything the CLI does.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
register();
// `mailrelay dlq list | head`: a closed pipe ends the output, not with a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit(process.exitCode ?? 0);
  });
}

const { main } = await import('../cli/main.ts');
const abort = new AbortController();
let signals = 0;
const onSignal = () => {
  signals += 1;
  if (signals > 1) process.exit(130);
  abort.abort();
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
process.exitCode = await main(process.argv.slice(2), { signal: abort.signal });
process.off('SIGINT', onSignal);
process.off('SIGTERM', onSignal);
