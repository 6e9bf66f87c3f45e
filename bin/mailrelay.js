#!/usr/bin/env node
/* global AbortController */
// The `mailrelay` command. Which code it runs:
// - in a clone (cli/main.ts is here) with the dev dependencies installed: the TypeScript sources
//   through tsx's loader, so what runs is always what you edited;
// - otherwise (an installed package, or a clone installed with --omit=dev): the JavaScript build
//   in dist/cli/ (`npm run build`; `npm pack` builds it through `prepack`).
// MAILRELAY_CLI=build forces the build, MAILRELAY_CLI=source the sources.
import { existsSync } from 'node:fs';

// This warning is about the SDK's future Node support, not about anything the CLI does.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const source = new URL('../cli/main.ts', import.meta.url);
const build = new URL('../dist/cli/main.mjs', import.meta.url);

/** tsx's loader, or undefined when the dev dependencies are not installed. */
async function tsxLoader() {
  try {
    return await import('tsx/esm/api');
  } catch (error) {
    if (error?.code === 'ERR_MODULE_NOT_FOUND') return undefined;
    throw error;
  }
}

async function loadMain() {
  const want = process.env.MAILRELAY_CLI;
  if (want !== undefined && want !== 'build' && want !== 'source') {
    process.stderr.write(`mailrelay: MAILRELAY_CLI must be "build" or "source", not "${want}"\n`);
    return undefined;
  }
  if (want !== 'build' && existsSync(source)) {
    const tsx = await tsxLoader();
    if (tsx) {
      tsx.register();
      return (await import(source.href)).main;
    }
    if (want === 'source') {
      process.stderr.write('mailrelay: MAILRELAY_CLI=source needs tsx, a dev dependency: run `npm ci` (without --omit=dev)\n');
      return undefined;
    }
  }
  if (existsSync(build)) {
    process.setSourceMapsEnabled(true);
    return (await import(build.href)).main;
  }
  process.stderr.write(
    'mailrelay: no build of the CLI (dist/cli/main.mjs) and no tsx to run its sources.\n' +
      'In a clone: `npm ci && npm run build`, after which `npm ci --omit=dev` keeps working; or install the packed package (`npm pack`).\n',
  );
  return undefined;
}

const main = await loadMain();
if (main === undefined) {
  process.exitCode = 1;
} else {
  // `mailrelay dlq list | head`: a closed pipe ends the output, not with a stack trace.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error) => {
      if (error.code !== 'EPIPE') throw error;
      process.exit(process.exitCode ?? 0);
    });
  }
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
}
