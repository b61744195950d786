/**
 * Loading handler modules from real files: TypeScript in any folder, and load errors
 * that say where. Each load runs in a plain Node process on the built module, as a
 * replica does (the test runner's own module loader would change what is seen).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const BUILT = fileURLToPath(new URL('../dist/src/threads/handler-module.js', import.meta.url));

/** Load `file` with importHandler and call the handler with `arg`: its return value, or the load error's message. */
function load(file: string, arg: unknown = {}): Promise<{ returned?: unknown; error?: string }> {
  const script = `
    const { importHandler } = await import(${JSON.stringify(BUILT)});
    try {
      const handle = await importHandler(${JSON.stringify(file)});
      console.log(JSON.stringify({ returned: await handle(${JSON.stringify(arg)}) }));
    } catch (err) {
      console.log(JSON.stringify({ error: err.message }));
    }`;
  return new Promise((resolve, reject) =>
    execFile(process.execPath, ['--input-type=module', '-e', script], (err, out) => (err ? reject(err) : resolve(JSON.parse(out)))),
  );
}

/** What importHandlerModule says the module at `file` declares, or its error's message. */
function declared(file: string): Promise<{ atomic?: string; error?: string }> {
  const script = `
    const { importHandlerModule } = await import(${JSON.stringify(BUILT)});
    try {
      const { atomic } = await importHandlerModule(${JSON.stringify(file)});
      console.log(JSON.stringify({ atomic }));
    } catch (err) {
      console.log(JSON.stringify({ error: err.message }));
    }`;
  return new Promise((resolve, reject) =>
    execFile(process.execPath, ['--input-type=module', '-e', script], (err, out) => (err ? reject(err) : resolve(JSON.parse(out)))),
  );
}

const dir = mkdtempSync(join(tmpdir(), 'dedup-handler-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A module file in its own folder, with an optional package.json beside it. */
function moduleFile(name: string, source: string, packageJson?: object): string {
  const folder = mkdtempSync(join(dir, 'm-'));
  if (packageJson) writeFileSync(join(folder, 'package.json'), JSON.stringify(packageJson));
  const file = join(folder, name);
  writeFileSync(file, source);
  return file;
}

const TS_HANDLER = 'export default async function handle(m: { id: string }): Promise<string> {\n  return `ran ${m.id}`;\n}\n';

describe('importHandler', () => {
  it.each([
    ['no package.json', undefined],
    ['a package.json without "type"', { name: 'svc' }],
    ['"type": "commonjs"', { type: 'commonjs' }],
    ['"type": "module"', { type: 'module' }],
  ])('loads a .ts handler in a folder with %s', async (_what, pkg) => {
    expect(await load(moduleFile('handler.ts', TS_HANDLER, pkg), { id: 'a1' })).toEqual({ returned: 'ran a1' });
  });

  it('loads a CommonJS handler that assigns module.exports', async () => {
    expect(await load(moduleFile('handler.cjs', 'module.exports = function handle() { return "cjs"; };\n'))).toEqual({ returned: 'cjs' });
  });

  it('names a missing file', async () => {
    expect((await load(join(dir, 'nope.mjs'))).error).toMatch(`${join(dir, 'nope.mjs')} does not exist`);
  });

  it('names the file, line and column of a JavaScript syntax error', async () => {
    const file = moduleFile('bad.mjs', 'export default async function handle() {\n  return {{;\n}\n');
    expect((await load(file)).error).toMatch(`${file}:2:11: SyntaxError: Unexpected token '{'`);
  });

  it('finds the place of a syntax error in a .js module with ESM syntax in a plain folder', async () => {
    const file = moduleFile('bad.js', 'export default async function handle() {\n  const x = 1;\n  return x +* 2;\n}\n');
    expect((await load(file)).error).toMatch(`${file}:3:13: SyntaxError: Unexpected token '*'`);
  });

  it('names the file, line and column of a TypeScript syntax error', async () => {
    const file = moduleFile('bad.ts', 'export default async function handle(): Promise<void> {\n  return {{;\n}\n');
    expect((await load(file)).error).toMatch(new RegExp(`^${file.replace(/[.]/g, '\\.')}:2:10: ERROR: `));
  });

  it('names the place of an error thrown while the module loads', async () => {
    const file = moduleFile('throws.mjs', 'const x = 1;\nthrow new Error(`no config ${x}`);\nexport default () => {};\n');
    expect((await load(file)).error).toMatch(`${file}:2:7: Error: no config 1`);
  });

  it('reads a declared atomic mode, also from TypeScript compiled as CommonJS, and refuses an unknown one', async () => {
    expect(await declared(moduleFile('h.mjs', "export const atomic = 'redis';\nexport default () => {};\n"))).toEqual({ atomic: 'redis' });
    expect(await declared(moduleFile('h.ts', "export const atomic = 'inbox';\nexport default async function handle(): Promise<void> {}\n", { type: 'commonjs' }))).toEqual({ atomic: 'inbox' });
    expect(await declared(moduleFile('h.mjs', 'export default () => {};\n'))).toEqual({});
    const bad = moduleFile('h.mjs', "export const atomic = 'postgres';\nexport default () => {};\n");
    expect((await declared(bad)).error).toBe(`${bad} exports atomic = "postgres"; expected 'redis' (its ctx.redis writes commit with the completion record) or 'inbox' (ctx.db, with --inbox)`);
  });

  it('says what is missing when there is no default export function', async () => {
    const file = moduleFile('named.mjs', 'export function handle() {}\n');
    expect((await load(file)).error).toMatch(/has no default export function/);
  });
});
