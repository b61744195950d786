import { fileURLToPath } from 'node:url';

/**
 * Path of a compiled file of this package, given relative to dist/ (e.g.
 * "workers/handler-worker.js"). Worker threads and child processes need
 * JavaScript; under vitest this code runs from src/common/*.ts, so the built copy is used.
 */
export function builtFile(relativeToDist: string): string {
  const fromSource = import.meta.url.endsWith('.ts');
  return fileURLToPath(new URL(`${fromSource ? '../../dist/' : '../../'}${relativeToDist}`, import.meta.url));
}

/** Path of a file shipped as it is at the package root (e.g. "migrations/001_inbox.sql"). */
export function packageFile(relativeToRoot: string): string {
  const fromSource = import.meta.url.endsWith('.ts');
  return fileURLToPath(new URL(`${fromSource ? '../../' : '../../../'}${relativeToRoot}`, import.meta.url));
}
