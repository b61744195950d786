/**
 * The real helm (unpacked from a dev dependency by scripts/helm.mjs) and the chart
 * rendered by it: what the tests check is what `helm install` would apply.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
// @ts-expect-error: a plain .mjs script without type declarations
import { ensureHelm } from '../../scripts/helm.mjs';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CHART = 'deploy/helm/dedup-pool';
export const CI_VALUES = ['default-values.yaml', 'keda-values.yaml', 'existing-secret-values.yaml'].map((f) => `${CHART}/ci/${f}`);

export interface HelmResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function helm(args: string[]): HelmResult {
  const r = spawnSync(ensureHelm() as string, args, { cwd: ROOT, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Doc = Record<string, any>;

/** `helm template` with the values files and --set pairs given; throws with helm's message on failure. */
export function render(valuesFiles: string[], sets: string[] = [], release = 'dedup-pool'): Doc[] {
  const r = helm(['template', release, CHART, ...valuesFiles.flatMap((f) => ['-f', f]), ...sets.flatMap((s) => ['--set', s])]);
  if (r.status !== 0) throw new Error(r.stderr.trim());
  return parseYaml(r.stdout);
}

export function parseYaml(text: string): Doc[] {
  return parseAllDocuments(text)
    .map((d) => {
      if (d.errors.length) throw new Error(d.errors.map((e) => e.message).join('; '));
      return d.toJS() as Doc | null;
    })
    .filter((d): d is Doc => d !== null);
}

export function find(docs: Doc[], kind: string): Doc | undefined {
  return docs.find((d) => d.kind === kind);
}
