/**
 * The handler's schemas are zod/mini (issue 17): classic zod is six times the bytes and the cold
 * init, so eslint.config.js refuses it under lambda/, and the named `z` that drags every locale in.
 * Linted for real, with the repository's own config, as if each snippet were a file under lambda/.
 */
import { ESLint } from 'eslint';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const eslint = new ESLint({ cwd: ROOT });

async function zodProblems(code: string, filePath = 'lambda/core/message/example.ts'): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-syntax').map((m) => m.message);
}

describe('zod imports under lambda/', () => {
  it.each([
    ["import * as z from 'zod';\nexport const s = z.string();", 'classic namespace'],
    ["import { string } from 'zod';\nexport const s = string();", 'classic named'],
    ["import * as z from 'zod/v4';\nexport const s = z.string();", 'classic through zod/v4'],
    ["export { string } from 'zod';", 'classic re-export'],
    ["export * from 'zod';", 'classic export-all'],
    ["export const load = () => import('zod');", 'classic dynamic import'],
    ["import * as z from 'zod/v4/classic';\nexport const s = z.string();", 'classic through zod/v4/classic'],
    ["import * as z from 'zod/v4/classic/external.js';\nexport const s = z.string();", 'classic through its external file'],
    ["import * as z from 'zod/v3';\nexport const s = z.string();", 'zod 3 through zod/v3'],
    ["import * as z from 'zod/v4/locales/../classic/external.js';\nexport const s = z.string();", 'classic through a locales path'],
    ["import * as z from 'zod/mini/../v4/classic/external.js';\nexport const s = z.string();", 'classic through a mini path'],
    ["import { en } from 'zod/v4/locales';\nexport const l = en;", 'every locale through the locales index'],
  ])('refuses %j (%s)', async (code) => {
    const problems = await zodProblems(code);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain("use `import * as z from 'zod/mini'`: classic zod");
  });

  it.each([
    ["import type { $ZodIssue } from 'zod/v4/core';\nexport type I = $ZodIssue;", 'zod/v4/core types (what zod/mini is built on)'],
    ["import { $ZodError } from 'zod/v4/core';\nexport const E = $ZodError;", 'zod/v4/core values'],
    ["import { fromError } from 'zod-validation-error';\nexport const f = fromError;", 'another package whose name starts with zod'],
    ["import * as z from 'zod/v4-mini';\nexport const s = z.string();", 'zod/v4-mini'],
  ])('accepts %j (%s)', async (code) => {
    expect(await zodProblems(code)).toEqual([]);
  });

  it('refuses the named z of zod/mini, which pulls every locale in', async () => {
    expect(await zodProblems("import { z } from 'zod/mini';\nexport const s = z.string();")).toEqual([
      "use `import * as z from 'zod/mini'`: the named `z` pulls every zod locale into the bundle (docs/performance.md).",
    ]);
  });

  it('accepts the zod/mini namespace, its named functions, a locale file and type-only imports', async () => {
    expect(await zodProblems("import * as z from 'zod/mini';\nexport const s = z.string();")).toEqual([]);
    expect(await zodProblems("import { config } from 'zod/mini';\nimport en from 'zod/v4/locales/en.js';\nconfig(en());")).toEqual([]);
    expect(await zodProblems("import type * as z from 'zod/mini';\nexport type S = z.ZodMiniString;")).toEqual([]);
  });

  it('leaves code outside lambda/ alone', async () => {
    expect(await zodProblems("import * as z from 'zod';\nexport const s = z.string();", 'cli/example.ts')).toEqual([]);
  });
});
