/**
 * Loading the user's handler module: JavaScript as it is, TypeScript through tsx
 * (no build step), in any folder. A module that cannot be loaded fails with the
 * file, line and column of the problem, not just the parser's last words.
 */
import { execFile } from 'node:child_process';
import { createReadStream, existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { errorMessage } from '../common/errors.js';

/**
 * The handler of a loaded module. TypeScript in a folder without `"type": "module"`
 * is compiled as CommonJS, where `export default` becomes `module.exports.default`:
 * the function then arrives one level deeper, as `default.default`.
 */
export function handlerOf(mod: { default?: unknown }): ((...args: never[]) => unknown) | undefined {
  const main = mod.default;
  if (typeof main === 'function') return main as (...args: never[]) => unknown;
  const nested = (main as { default?: unknown } | null | undefined)?.default;
  return typeof nested === 'function' ? (nested as (...args: never[]) => unknown) : undefined;
}

/** The atomic mode a handler declares with `export const atomic = 'redis' | 'inbox'`. */
export type AtomicMode = 'redis' | 'inbox';
const ATOMIC_MODES: readonly string[] = ['redis', 'inbox'] satisfies AtomicMode[];

/** What a handler module declares besides its function, checked against the options at start-up. */
export interface HandlerInfo {
  atomic?: AtomicMode;
}

/** The `atomic` export, wherever CommonJS compilation put it; throws on a value that is not a mode. */
export function atomicOf(path: string, mod: { default?: unknown; atomic?: unknown }): AtomicMode | undefined {
  const value = mod.atomic ?? (mod.default as { atomic?: unknown } | null | undefined)?.atomic;
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !ATOMIC_MODES.includes(value)) {
    throw new Error(`${path} exports atomic = ${JSON.stringify(value)}; expected 'redis' (its ctx.redis writes commit with the completion record) or 'inbox' (ctx.db, with --inbox)`);
  }
  return value as AtomicMode;
}

/** Import the module at `path`: its default export function and what it declares. */
export async function importHandlerModule<H>(path: string): Promise<{ handler: H } & HandlerInfo> {
  if (!existsSync(path)) throw new Error(`${path} does not exist`);
  let mod: { default?: unknown };
  try {
    mod = /\.[cm]?ts$/.test(path) ? await importTypeScript(path) : ((await import(pathToFileURL(path).href)) as { default?: unknown });
  } catch (err) {
    throw new Error(await describeLoadError(path, err), { cause: err });
  }
  const handler = handlerOf(mod);
  if (!handler) throw new Error(`${path} has no default export function (export default async function handle(message, ctx) { ... })`);
  const atomic = atomicOf(path, mod);
  return { handler: handler as H, ...(atomic && { atomic }) };
}

/** Import the module at `path` and return its default export function. */
export async function importHandler<H>(path: string): Promise<H> {
  return (await importHandlerModule<H>(path)).handler;
}

async function importTypeScript(path: string): Promise<{ default?: unknown }> {
  const { tsImport } = await import('tsx/esm/api');
  return (await tsImport(pathToFileURL(path).href, import.meta.url)) as { default?: unknown };
}

/**
 * "file:line:col: what" where it can be found: tsx already names the place of a
 * TypeScript error; a thrown error names it in its stack; a JavaScript syntax error
 * names it nowhere, so `node --check` is asked (only on this failure path).
 */
export async function describeLoadError(path: string, err: unknown): Promise<string> {
  const message = errorMessage(err);
  if (/:\d+:\d+: ERROR: /.test(message)) return message.replace(/^Transform failed with \d+ errors?:\n/, '');
  const name = err instanceof Error ? err.name : 'Error';
  if (err instanceof SyntaxError) {
    const at = await syntaxErrorAt(path);
    return `${at ?? path}: ${name}: ${message}`;
  }
  const stack = err instanceof Error ? (err.stack ?? '') : '';
  const url = pathToFileURL(path).href;
  const frame = stack.split('\n').find((l) => l.includes(url) || l.includes(path));
  const at = frame?.match(/((?:file:\/\/)?\/[^\s()]+:\d+:\d+)/)?.[1]?.replace(/^file:\/\//, '');
  return `${at ?? path}: ${name}: ${message}`;
}

/**
 * `node --check` prints "file:///x.mjs:LINE", the source line, and a caret under
 * the column. A `.js` file with ESM syntax can pass the plain check (module
 * detection), so it is checked once more as a module from stdin.
 */
async function syntaxErrorAt(path: string): Promise<string | undefined> {
  return (await check(['--check', path])) ?? (await check(['--input-type=module', '--check'], path))?.replace('[stdin]', path);
}

function check(args: string[], stdinFrom?: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, args, (err, _out, stderr) => resolve(err ? placeIn(stderr) : undefined));
    if (stdinFrom) createReadStream(stdinFrom).pipe(child.stdin!);
    else child.stdin?.end();
  });
}

function placeIn(stderr: string): string | undefined {
  const lines = stderr.split('\n');
  const i = lines.findIndex((l) => /:\d+$/.test(l));
  if (i < 0) return undefined;
  const place = lines[i]!.replace(/^file:\/\//, '');
  const caret = lines[i + 2]?.indexOf('^') ?? -1;
  return caret >= 0 ? `${place}:${caret + 1}` : place;
}
