// deploy/kubernetes/dedup-pool.yaml: the chart rendered with its defaults (and the one required
// value, the queue), for clusters without Helm. Run after changing the chart: npm run manifests.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ensureHelm } from './helm.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const MANIFESTS = 'deploy/kubernetes/dedup-pool.yaml';

export const HEADER = `# dedup-pool for kubectl apply, rendered from deploy/helm/dedup-pool with its default values
# (npm run manifests). Before applying: set the queue (DEDUP_QUEUE), the URLs in the Secret,
# and the image; a handler image is built FROM dedup-pool (docs/kubernetes.md).
#   kubectl apply -n <namespace> -f deploy/kubernetes/dedup-pool.yaml
`;

/** The manifests as committed: the header, then helm template's output. */
export function renderManifests() {
  const r = spawnSync(ensureHelm(), ['template', 'dedup-pool', 'deploy/helm/dedup-pool', '--set', 'pool.queue=orders'], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  return HEADER + r.stdout;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(new URL(`../${MANIFESTS}`, import.meta.url), renderManifests());
  console.log(`wrote ${MANIFESTS}`);
}
