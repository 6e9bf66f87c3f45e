// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'cdk.out/**', 'dist/**', 'coverage/**', 'bench/.build/**', '**/*.d.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', URL: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-control-regex': 'off',
    },
  },
  {
    // The handler's schemas use zod/mini (issue 17): with classic zod they bundled to 139 KB and
    // took ~24 ms to import and ~11 ms to parse a first message and config item; with mini 76 KB,
    // ~16 ms and ~5 ms (classic also clones a schema on every chained method and compiles each
    // object with new Function on its first parse). And `import { z } from 'zod/mini'` would drag
    // every zod locale into the bundle (+360 KB, docs/performance.md); the namespace import does not.
    files: ['lambda/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: ":matches(ImportDeclaration, ExportNamedDeclaration, ExportAllDeclaration, ImportExpression)[source.value=/^zod(?:$|\\x2F(?!(?:mini|v4-mini|v4\\x2Fmini|v4\\x2Fcore|v4\\x2Flocales\\x2F[a-z][\\w-]*(?:\\.js)?)$))|^zod\\x2F(?:.*\\x2F)?\\.\\.(?:\\x2F|$)/]",
          message: "use `import * as z from 'zod/mini'`: classic zod costs the handler ~60 KB and ~14 ms of cold init and first parse (issue 17).",
        },
        {
          selector: "ImportDeclaration[source.value=/^zod/][importKind='value'] > ImportSpecifier[imported.name='z']",
          message: "use `import * as z from 'zod/mini'`: the named `z` pulls every zod locale into the bundle (docs/performance.md).",
        },
      ],
    },
  },
  {
    // The core and the worker logic never import the AWS SDK: they talk to the world through
    // ports; adapters implement them and handlers wire them.
    files: ['lambda/core/**/*.ts', 'lambda/worker/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['@aws-sdk/*', '@aws-lambda-powertools/*', '@middy/*'], message: 'lambda/core knows nothing of AWS: use a port (lambda/core/ports.ts).' }] }],
    },
  },
  {
    // The gateway's core is AWS-free too: the queue is a port (cli/gateway/ports.ts); the SQS
    // adapter lives in cli/gateway/adapters and `mailrelay gateway` wires it.
    files: ['cli/gateway/**/*.ts'],
    ignores: ['cli/gateway/adapters/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['@aws-sdk/*'], message: 'the gateway core knows nothing of AWS: use a port (cli/gateway/ports.ts).' }] }],
    },
  },
);
