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
    // `import { z } from 'zod'` drags every zod locale into the handler bundle (+360 KB, slower
    // cold init: docs/performance.md); the namespace import tree-shakes them.
    files: ['lambda/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "ImportDeclaration[source.value='zod'][importKind='value'] > ImportSpecifier[imported.name='z']",
          message: "use `import * as z from 'zod'`: the named `z` pulls every zod locale into the bundle (docs/performance.md).",
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
