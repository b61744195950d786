/**
 * The Dockerfile, read instruction by instruction (no container builder runs in the
 * test suite; scripts/image-check.sh builds and runs the image with podman where one
 * can run): multi-stage on a base image given as a build argument, production
 * dependencies only, non-root, tini as PID 1 in front of dedup-pool, CMD replica,
 * NODE_ENV=production, and every file the program reads at run time copied in.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/helm.js';

interface Instruction {
  op: string;
  args: string;
  line: number;
}

/** Instructions with continuation lines joined and comments dropped. */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!pending && (line === '' || line.startsWith('#'))) return;
    if (pending && line.startsWith('#')) return;
    if (!pending) start = i + 1;
    pending += (pending ? ' ' : '') + line.replace(/\\$/, '').trim();
    if (line.endsWith('\\')) return;
    const m = /^(\S+)\s+([\s\S]*)$/.exec(pending)!;
    out.push({ op: m[1]!.toUpperCase(), args: m[2]!, line: start });
    pending = '';
  });
  return out;
}

const DOCKERFILE = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
const stages: Instruction[][] = [];
for (const ins of DOCKERFILE) {
  if (ins.op === 'FROM') stages.push([]);
  stages.at(-1)?.push(ins);
}
const final = stages.at(-1)!;
const ops = (stage: Instruction[], op: string): Instruction[] => stage.filter((i) => i.op === op);
/** `COPY [--from=x] src... dest` as { from, sources, dest }. */
const copies = (stage: Instruction[]): { from?: string; sources: string[]; dest: string }[] =>
  ops(stage, 'COPY').map((i) => {
    const words = i.args.split(/\s+/);
    const from = words.find((w) => w.startsWith('--from='))?.slice(7);
    const plain = words.filter((w) => !w.startsWith('--'));
    return { ...(from && { from }), sources: plain.slice(0, -1), dest: plain.at(-1)! };
  });

describe('Dockerfile', () => {
  it('the parser reads continuation lines and skips comments (a check of the check)', () => {
    expect(parseDockerfile('# c\nFROM a AS b\nRUN x \\\n  # inside\n && y\nCMD ["z"]\n')).toEqual([
      { op: 'FROM', args: 'a AS b', line: 2 },
      { op: 'RUN', args: 'x && y', line: 3 },
      { op: 'CMD', args: '["z"]', line: 6 },
    ]);
  });

  it('is multi-stage, every stage FROM the BASE_IMAGE build argument declared before them', () => {
    expect(DOCKERFILE[0]).toMatchObject({ op: 'ARG' });
    expect(DOCKERFILE[0]!.args).toMatch(/^BASE_IMAGE=\S+$/);
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const s of stages) expect(s[0]!.args).toMatch(/^\$\{BASE_IMAGE\}( AS \w+)?$/);
  });

  it('the runtime stage: production dependencies only, NODE_ENV=production, a non-root user, tini as PID 1 running dedup-pool, CMD replica', () => {
    const nodeModules = copies(final).find((c) => c.dest.endsWith('node_modules'))!;
    const deps = stages.find((s) => new RegExp(` AS ${nodeModules.from}$`).test(s[0]!.args))!;
    expect(ops(deps, 'RUN').map((r) => r.args).join('\n')).toMatch(/npm ci --omit=dev/);
    expect(ops(final, 'RUN').map((r) => r.args).join('\n')).not.toMatch(/npm (ci|install)/);
    expect(ops(final, 'ENV').map((e) => e.args).join(' ')).toMatch(/\bNODE_ENV=production\b/);
    const user = ops(final, 'USER').at(-1)!.args;
    expect(user).not.toMatch(/^(0|root)(:|$)/);
    expect(JSON.parse(ops(final, 'ENTRYPOINT').at(-1)!.args)).toEqual(['/usr/bin/tini', '--', 'dedup-pool']);
    expect(JSON.parse(ops(final, 'CMD').at(-1)!.args)).toEqual(['replica']);
    expect(ops(final, 'RUN').map((r) => r.args).join('\n')).toMatch(/apt-get install .*\btini\b/);
    expect(ops(final, 'RUN').map((r) => r.args).join('\n')).toMatch(/ln -s \/app\/bin\/dedup-pool\.js \/usr\/local\/bin\/dedup-pool/);
  });

  it('every file copied from the build context exists and is not excluded by .dockerignore', () => {
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    for (const s of stages) {
      for (const c of copies(s).filter((x) => !x.from)) {
        for (const src of c.sources) {
          expect(existsSync(join(ROOT, src)), src).toBe(true);
          expect(ignored.filter((pattern) => src === pattern || src.startsWith(`${pattern}/`)), src).toEqual([]);
        }
      }
    }
  });

  it('the build stage copies every folder tsconfig.json compiles; the runtime stage has dist, bin and every file read from the package at run time', () => {
    const build = stages.find((s) => ops(s, 'RUN').some((r) => r.args.includes('npm run build')))!;
    const built = copies(build).flatMap((c) => c.sources);
    for (const dir of (JSON.parse(readFileSync(join(ROOT, 'tsconfig.json'), 'utf8')) as { include: string[] }).include) expect(built, dir).toContain(dir);
    const shipped = copies(final).flatMap((c) => c.sources);
    expect(shipped).toEqual(expect.arrayContaining(['/src/dist', 'bin', 'package.json']));
    // packageFile('...') reads a file of the package as it is: each must be in the image.
    const read = readdirSync(join(ROOT, 'src'), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts'))
      .flatMap((f) => [...readFileSync(join(ROOT, 'src', f), 'utf8').matchAll(/packageFile\('([^']+)'\)/g)].map((m) => m[1]!));
    expect(read.length).toBeGreaterThan(0);
    for (const file of read) expect(shipped.some((s) => file === s || file.startsWith(`${s}/`)), file).toBe(true);
  });
});
