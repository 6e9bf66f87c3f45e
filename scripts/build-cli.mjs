#!/usr/bin/env node
/**
 * Builds the `mailrelay` command into plain JavaScript: cli/main.ts and everything it imports
 * from this repository (lambda/, local/state.ts, ...) bundled by esbuild into dist/cli/, one
 * chunk per lazily loaded command. npm packages stay imports: they are the package's
 * `dependencies`, installed with it, so an install with `--omit=dev` runs the CLI without tsx.
 *
 * Usage: node scripts/build-cli.mjs [OUTDIR]   (default dist/cli; `npm run build`, and `npm pack`
 * runs it through `prepack`)
 */
import { readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = fileURLToPath(new URL('../', import.meta.url));
const outdir = process.argv[2] ?? `${root}dist/cli`;
const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8'));
const engine = /(\d+)\.(\d+)/.exec(pkg.engines.node);

rmSync(outdir, { recursive: true, force: true });
const result = await esbuild.build({
  absWorkingDir: root,
  entryPoints: { main: 'cli/main.ts' },
  outdir,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: `node${engine[1]}.${engine[2]}`,
  packages: 'external',
  sourcemap: true,
  metafile: true,
  logLevel: 'warning',
});

// Every package the bundle imports must be installed with the package, not only in development.
const runtime = new Set(Object.keys(pkg.dependencies ?? {}));
const missing = new Set();
for (const input of Object.values(result.metafile.inputs)) {
  for (const { path, external } of input.imports) {
    if (!external || path.startsWith('node:')) continue;
    const name = path.startsWith('@') ? path.split('/').slice(0, 2).join('/') : path.split('/')[0];
    if (!runtime.has(name)) missing.add(name);
  }
}
if (missing.size > 0) {
  console.error(`build-cli: the CLI imports ${[...missing].join(', ')}, which package.json lists only in devDependencies (or not at all): move them to dependencies`);
  process.exit(1);
}
