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
    // The handler's schemas use zod/mini: classic zod is 91 KB minified and ~7 ms of cold init
    // against mini's 14 KB and ~1.4 ms, and each chained method clones its schema (issue 17).
    // And `import { z } from 'zod/mini'` would drag every zod locale into the bundle (+360 KB,
    // docs/performance.md); the namespace import tree-shakes them.
    files: ['lambda/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: ":matches(ImportDeclaration, ExportNamedDeclaration, ExportAllDeclaration, ImportExpression)[source.value=/^zod(.v[34])?$/]",
          message: "use `import * as z from 'zod/mini'`: classic zod costs the handler ~75 KB and ~6 ms of cold init (issue 17, docs/performance.md).",
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
