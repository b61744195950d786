/**
 * `--scenario nemesis`: the long randomized fault schedule of test/nemesis/ (docs/nemesis.md),
 * run from the source tree under tsx: the harness lives with the tests, which the build
 * does not compile. Its timeline streams through; the outcome table is returned.
 * NEMESIS_SEED=a,b replays seeds.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export async function runNemesisBench(resultsDir: string): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/nemesis/main.ts', '--out', resultsDir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    process.stdout.write(chunk);
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  const table = out.slice(out.lastIndexOf('\nnemesis outcome'));
  if (code !== 0) throw new Error(`nemesis: the checker found problems or the run failed (exit ${code}); see above`);
  return table.trim();
}
