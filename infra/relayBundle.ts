/**
 * The worker's bundle, built one way for everyone: the stack deploys it
 * (infra/constructs/relayFunction.ts), the bench measures it (bench/build.ts) and
 * test/infra/relayBundle.test.ts checks what it loads at start.
 *
 * Why split (issue 17, docs/performance.md "Cold start"): a cold start's import time is mostly
 * V8 compiling module source, so it grows with the bytes loaded at start. The worker imports
 * what few messages need — the S3 client (pointer bodies), the Lambda client (function auth
 * hooks), the SSM client (parameter keysources), and the SDK's own credential providers (sso,
 * ini, sts, process, ...) — with dynamic `import()` on first use. A single-file bundle
 * (`outfile`, what aws-lambda-nodejs always builds) inlines them all, so every cold start reads
 * and compiles them anyway. With `splitting`, esbuild turns each dynamic import into a chunk that
 * Node loads only when that code first runs: the entry and the chunks it imports statically are
 * what a cold start compiles; the first message that reads a pointer (or calls a function hook,
 * or reads a parameter) pays for compiling its chunk once per sandbox.
 *
 * Layout: `index.mjs` (handler `index.handler`) and `chunks/*.mjs`, each with its `.map`. The
 * `.mjs` extension makes Node treat every file as ESM without a package.json next to them.
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync, type BuildOptions, type Metafile } from 'esbuild';

/** The repository root (esbuild's working directory: inputs and outputs in the metafile are relative to it). */
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The worker's handler file. */
export const RELAY_HANDLER_SOURCE = join(REPO_ROOT, 'lambda/handlers/relay.ts');

/** The entry file of the bundle, relative to its directory: the Lambda handler is `index.handler`. */
export const RELAY_BUNDLE_ENTRY = 'index.mjs';

/** The directory of the chunks, relative to the bundle's. */
export const RELAY_BUNDLE_CHUNKS = 'chunks';

/**
 * esbuild emits ESM, but some bundled dependencies are CommonJS (nodemailer) and call `require`
 * for Node built-ins: give them one. Every output file gets it (each chunk is its own module).
 */
export const ESM_REQUIRE_BANNER = "import { createRequire } from 'module';const require = createRequire(import.meta.url);";

/** The esbuild target of the deployed function: Lambda's Node.js 24 runtime. */
export const LAMBDA_TARGET = 'node24';

/** What {@link bundleRelay} bundles. */
export interface RelayBundleOptions {
  /**
   * The handler file (exports `handler`), absolute.
   * @default lambda/handlers/relay.ts
   */
  readonly entry?: string;
  /**
   * The operator's auth hook module (docs/auth-hook.md), bundled in place of the handler's
   * `#auth-hook` import: statically, so it costs no extra load beyond its own imports.
   * @default - `#auth-hook` resolves through package.json `imports` (no module hook)
   */
  readonly authHookEntry?: string;
  /**
   * esbuild target.
   * @default {@link LAMBDA_TARGET}; the bench passes the Node it runs on
   */
  readonly target?: string;
}

/**
 * The deployed esbuild options for a build into `outDir`: ESM for node, mainFields module,main
 * (the SDK's ES modules, which tree-shake), the createRequire banner, minified with kept names
 * (readable stack traces and error names), an external source map without sources content
 * (NODE_OPTIONS=--enable-source-maps maps stack traces; it is not on by default, see
 * relayFunction.ts), nothing external (the AWS SDK is bundled: the versions package-lock.json
 * pins, not whatever the runtime ships), and split at dynamic imports.
 */
export function relayBuildOptions(outDir: string, options: RelayBundleOptions = {}): BuildOptions & { metafile: true } {
  return {
    absWorkingDir: REPO_ROOT,
    entryPoints: [{ in: options.entry ?? RELAY_HANDLER_SOURCE, out: RELAY_BUNDLE_ENTRY.replace(/\.mjs$/, '') }],
    outdir: outDir,
    bundle: true,
    splitting: true,
    chunkNames: `${RELAY_BUNDLE_CHUNKS}/[name]-[hash]`,
    outExtension: { '.js': '.mjs' },
    platform: 'node',
    format: 'esm',
    target: options.target ?? LAMBDA_TARGET,
    mainFields: ['module', 'main'],
    banner: { js: ESM_REQUIRE_BANNER },
    minify: true,
    keepNames: true,
    sourcemap: true,
    sourcesContent: false,
    external: [],
    ...(options.authHookEntry ? { alias: { '#auth-hook': options.authHookEntry } } : {}),
    metafile: true,
    logLevel: 'warning',
  };
}

/** One `.mjs` file of a bundle. */
export interface BundleFile {
  /** Absolute path. */
  readonly path: string;
  readonly bytes: number;
  /** The entry, or a chunk the entry imports statically (directly or through another chunk): compiled at every cold start. */
  readonly atStart: boolean;
  /** The source files with code in it: relative to the repository root, a dependency from its last `node_modules/` on. */
  readonly inputs: readonly string[];
}

/** A built bundle. */
export interface RelayBundle {
  /** Absolute path of `index.mjs`. */
  readonly entry: string;
  /** Every `.mjs` file, the entry first. */
  readonly files: readonly BundleFile[];
  readonly metafile: Metafile;
}

/**
 * Builds the bundle into `outDir` (synchronous: CDK's local bundling calls it). The directory
 * should be empty: esbuild overwrites but never deletes, and chunk names carry content hashes.
 */
export function bundleRelay(outDir: string, options: RelayBundleOptions = {}): RelayBundle {
  const result = buildSync(relayBuildOptions(outDir, options));
  return describeBundle(result.metafile, resolve(outDir, RELAY_BUNDLE_ENTRY));
}

/** The files of a split build from its metafile, each marked loaded at start or not (`entry`: the absolute path of the entry output). */
export function describeBundle(metafile: Metafile, entry: string): RelayBundle {
  const outputs = new Map(Object.entries(metafile.outputs).map(([path, output]) => [resolve(REPO_ROOT, path), output]));
  if (!outputs.has(entry)) throw new Error(`the build has no output ${entry}`);
  const atStart = new Set<string>();
  const pending = [entry];
  for (let path = pending.pop(); path !== undefined; path = pending.pop()) {
    if (atStart.has(path)) continue;
    atStart.add(path);
    for (const imported of outputs.get(path)?.imports ?? []) {
      // Node built-ins are `external`; a dynamic import() is a chunk loaded on first use.
      if (imported.kind === 'import-statement' && !imported.external) pending.push(resolve(REPO_ROOT, imported.path));
    }
  }
  const files = [...outputs]
    .filter(([path]) => path.endsWith('.mjs'))
    .map(([path, output]) => ({
      path,
      bytes: output.bytes,
      atStart: atStart.has(path),
      inputs: Object.keys(output.inputs).map(inputPath),
    }))
    .sort((a, b) => Number(b.path === entry) - Number(a.path === entry) || Number(b.atStart) - Number(a.atStart) || b.bytes - a.bytes);
  return { entry, files, metafile };
}

/** A metafile input relative to the repository root; a dependency from its `node_modules/` on (node_modules may be a symlink elsewhere). */
function inputPath(path: string): string {
  const dependency = path.lastIndexOf('node_modules/');
  return dependency >= 0 ? path.slice(dependency) : path;
}
