/**
 * The repository cites its own design document, `docs/design.md §N`, and nothing outside it:
 * the product contract the team works from is not in the repository, so a citation of it would
 * point a reader nowhere. Every section a citation names must exist as a heading of
 * docs/design.md, so citations keep mapping 1:1 to the document.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** Spelled in two parts so that this file does not match itself. */
const OUTSIDE_CONTRACT = ['DESIGN', '.md'].join('');
const CITATION = /docs\/design\.md (§\d+(?:\.\d+)?)/g;

/** Tracked files plus new ones not ignored: what a commit would hold. */
function repositoryFiles(): string[] {
  const out = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: ROOT, encoding: 'utf8' });
  return out.split('\0').filter((path) => path !== '' && !path.startsWith('node_modules/'));
}

function readText(path: string): string | undefined {
  let buffer: Buffer;
  try {
    buffer = readFileSync(`${ROOT}${path}`);
  } catch {
    return undefined; // deleted in the worktree but still in the index
  }
  return buffer.includes(0) ? undefined : buffer.toString('utf8');
}

describe('design citations', () => {
  const files = repositoryFiles();

  it('lists the repository files', () => {
    expect(files).toContain('docs/design.md');
    expect(files).toContain('package.json');
  });

  it(`no file refers to ${OUTSIDE_CONTRACT}, which is not in the repository`, () => {
    const offenders = files.flatMap((path) => {
      const text = readText(path);
      if (text === undefined) return [];
      return text
        .split('\n')
        .flatMap((line, index) => (line.includes(OUTSIDE_CONTRACT) ? [`${path}:${index + 1}: ${line.trim()}`] : []));
    });
    expect(offenders, `cite docs/design.md §N instead:\n${offenders.join('\n')}`).toEqual([]);
  });

  it('every docs/design.md §N citation names a section of docs/design.md', () => {
    const design = readFileSync(`${ROOT}docs/design.md`, 'utf8');
    const sections = new Set([...design.matchAll(/^#{2,3} (\d+(?:\.\d+)?)\.? /gm)].map((m) => `§${m[1]}`));
    expect([...sections].sort()).toEqual(['§1', '§1.1', '§2', '§3', '§3.1', '§4']);
    const dangling = files.flatMap((path) => {
      const text = readText(path);
      if (text === undefined) return [];
      return [...text.matchAll(CITATION)].flatMap((m) => (sections.has(m[1]!) ? [] : [`${path}: ${m[0]}`]));
    });
    expect(dangling).toEqual([]);
  });
});
