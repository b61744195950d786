/**
 * The folders of src/ are the parts of the design, and imports run one way between
 * them (ARCHITECTURE.md): a part imports its own files and the parts below it only.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Each part, and the parts it may import. */
const MAY_IMPORT: Record<string, string[]> = {
  common: [],
  store: ['common'],
  amqp: ['common'],
  threads: ['common', 'store', 'amqp'],
  replica: ['common', 'store', 'amqp', 'threads'],
  supervisor: ['common', 'store', 'amqp', 'threads', 'replica'],
  cli: ['common', 'store', 'amqp', 'threads', 'replica', 'supervisor'],
};

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Relative imports of a source file, as paths from the repository root without extension. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const specs = [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)\.js'/g)].map((m) => m[1]!);
  return specs.map((s) => normalize(join(dirname(file), s)));
}

const partOf = (path: string): string | undefined => /^src\/([^/]+)\//.exec(path)?.[1];
const files = [...sources('src'), ...sources('workers')];

describe('layout', () => {
  it('every folder of src/ is a known part, entered through an index.ts that says what it owns and may import', () => {
    const parts = readdirSync(join(ROOT, 'src'), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    expect(parts.sort()).toEqual(Object.keys(MAY_IMPORT).sort());
    for (const part of parts) {
      const entry = readFileSync(join(ROOT, 'src', part, 'index.ts'), 'utf8');
      expect(entry, part).toMatch(/^\/\*\*[\s\S]*?May import: [^\n]+/);
    }
  });

  it('imports run one way: a part imports itself and the parts below it', () => {
    const wrong: string[] = [];
    for (const file of files) {
      const from = partOf(file);
      for (const target of importsOf(file)) {
        const to = partOf(target);
        if (from === undefined || to === undefined || to === from) continue;
        if (!MAY_IMPORT[from]!.includes(to)) wrong.push(`${file} -> ${target}`);
      }
    }
    // workers/ is what threads run: it may use threads and what threads may use.
    for (const file of sources('workers')) {
      for (const target of importsOf(file)) if (!['threads', ...MAY_IMPORT.threads!].includes(partOf(target) ?? '')) wrong.push(`${file} -> ${target}`);
    }
    expect(wrong).toEqual([]);
  });

  it('no import cycles between files', () => {
    const graph = new Map(files.map((f) => [f.replace(/\.ts$/, ''), importsOf(f)]));
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const visit = (node: string, path: string[]): void => {
      if (state.get(node) === 'done') return;
      if (state.get(node) === 'open') return void cycles.push([...path.slice(path.indexOf(node)), node].join(' -> '));
      state.set(node, 'open');
      for (const next of graph.get(node) ?? []) visit(next, [...path, node]);
      state.set(node, 'done');
    };
    for (const node of graph.keys()) visit(node, []);
    expect(cycles).toEqual([]);
  });

  it('no source file (src, workers, bench) is over ~400 lines', () => {
    const long = [...files, ...sources('bench')].filter((f) => readFileSync(join(ROOT, f), 'utf8').split('\n').length > 420).map((f) => relative(ROOT, join(ROOT, f)));
    expect(long).toEqual([]);
  });
});
