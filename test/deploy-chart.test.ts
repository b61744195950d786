/**
 * The Helm chart, rendered by the real helm with several values files: lint, the
 * Kubernetes/KEDA/Prometheus schemas, and the invariants a pod of the pool needs
 * (grace period covers the drain, probes on the admin port, the command is replica,
 * selectors match, KEDA watches the work queue, DEDUP_THREADS set). The env the
 * chart sets is fed to the pool's own option parser, so the chart matches the program.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { OPTION_SPECS, optionsFromFlags, resolveOptions } from '../src/common/options.js';
import { splitHostPort } from '../src/supervisor/admin.js';
import { CHART, CI_VALUES, ROOT, find, helm, parseYaml, render, type Doc } from './helpers/helm.js';
import { schemaErrors } from './helpers/k8s-schemas.js';
// @ts-expect-error: a plain .mjs script without type declarations
import { MANIFESTS, renderManifests } from '../scripts/render-manifests.mjs';

const rendered = new Map<string, Doc[]>();
beforeAll(() => {
  for (const f of CI_VALUES) rendered.set(f, render([f]));
}, 60_000);

/** Keys of a Secret managed outside the chart (secret.existingSecret). */
const EXTERNAL_SECRET = { 'amqp-url': 'amqp://rabbitmq:5672', 'redis-url': 'redis://redis:6379' };

/** The pod's env as the process would see it: plain values, and Secret keys resolved from the rendered Secret. */
function podEnv(docs: Doc[], externalSecret: Record<string, string> = EXTERNAL_SECRET): Record<string, string> {
  const secret = find(docs, 'Secret');
  const container = find(docs, 'Deployment')!.spec.template.spec.containers[0];
  const env: Record<string, string> = {};
  for (const e of container.env as Doc[]) {
    const ref = e.valueFrom?.secretKeyRef;
    const value = ref ? (secret?.stringData?.[ref.key] ?? externalSecret[ref.key]) : e.value;
    if (value !== undefined) env[e.name] = String(value);
    else expect(ref?.optional, `env ${e.name} from a Secret key that is missing`).toBe(true);
  }
  return env;
}

describe('helm chart', () => {
  it('helm lint --strict passes with each values file; without a queue, rendering fails naming pool.queue', () => {
    for (const f of CI_VALUES) {
      const r = helm(['lint', '--strict', CHART, '-f', f]);
      expect(r.status, `${f}: ${r.stdout}${r.stderr}`).toBe(0);
    }
    const bare = helm(['template', 'x', CHART]);
    expect(bare.status).not.toBe(0);
    expect(bare.stdout + bare.stderr).toContain('pool.queue: the work queue to consume is required');
  });

  it('values.schema.json rejects a misspelt key and a bad value, naming them', () => {
    const typo = helm(['template', 'x', CHART, '--set', 'pool.queue=q', '--set', 'pool.treads=2']);
    expect(typo.status).not.toBe(0);
    expect(typo.stderr).toMatch(/pool: Additional property treads is not allowed/);
    const bad = helm(['template', 'x', CHART, '--set', 'pool.queue=q', '--set-string', 'secret.redisUrl=http://redis:6379']);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/secret\.redisUrl: does not match pattern/i);
  });

  it('every rendered document is valid against its Kubernetes, KEDA or Prometheus operator schema', () => {
    for (const [f, docs] of rendered) {
      expect(docs.length, f).toBeGreaterThanOrEqual(2);
      expect(docs.map(schemaErrors).filter(Boolean), f).toEqual([]);
    }
    // The schemas are not a formality: a wrong type is caught.
    const deployment = structuredClone(find(rendered.get(CI_VALUES[0]!)!, 'Deployment')!);
    deployment.spec.template.spec.containers[0].ports[0].containerPort = 'admin';
    expect(schemaErrors(deployment)).toMatch(/containerPort must be integer/);
  });

  it('the pod runs replica; its env is accepted by the pool, names only real options, and DEDUP_THREADS is set', () => {
    const knownEnv = new Set<string>(OPTION_SPECS.map((s) => s.env));
    for (const [f, docs] of rendered) {
      const pod = find(docs, 'Deployment')!.spec.template.spec;
      expect(pod.containers[0].args, f).toEqual(['replica']);
      const env = podEnv(docs);
      expect(Object.keys(env).filter((k) => !knownEnv.has(k)), f).toEqual([]);
      expect(env.DEDUP_THREADS, f).toMatch(/^\d+$/);
      const opts = resolveOptions(optionsFromFlags({}, env));
      expect(opts.queue, f).toBe(env.DEDUP_QUEUE);
    }
  });

  it('DEDUP_THREADS follows the CPU limit (rounded down, at least 1), else the request, else pool.threads; none at all is refused', () => {
    const threads = (sets: string[]): string => podEnv(render([CI_VALUES[0]!], sets)).DEDUP_THREADS!;
    expect(threads([])).toBe('2'); // the default limit, 2 CPUs
    expect(threads(['resources.limits.cpu=1500m'])).toBe('1');
    expect(threads(['resources.limits.cpu=250m'])).toBe('1');
    expect(threads(['resources.limits.cpu=4'])).toBe('4');
    expect(threads(['resources.limits=null', 'resources.requests.cpu=3'])).toBe('3');
    expect(threads(['pool.threads=0'])).toBe('0');
    expect(() => render([CI_VALUES[0]!], ['resources=null'])).toThrow(/pool\.threads: set it, or resources\.limits\.cpu/);
  });

  it('terminationGracePeriodSeconds covers the drain timeout plus a lock TTL, as the pool parses them', () => {
    for (const [f, docs] of rendered) {
      const pod = find(docs, 'Deployment')!.spec.template.spec;
      const opts = resolveOptions(optionsFromFlags({}, podEnv(docs)));
      expect(pod.terminationGracePeriodSeconds * 1000, f).toBeGreaterThan(opts.drainTimeoutMs + opts.lockTtlMs);
    }
    const long = find(rendered.get(CI_VALUES[1]!)!, 'Deployment')!.spec.template.spec;
    expect(long.terminationGracePeriodSeconds).toBe(120 + 60 + 15);
  });

  it('the probes hit /healthz and /readyz on the port the admin endpoint binds, on every interface', () => {
    for (const [f, docs] of rendered) {
      const container = find(docs, 'Deployment')!.spec.template.spec.containers[0];
      const [host, port] = splitHostPort(podEnv(docs).DEDUP_ADMIN!);
      expect(host, f).toBe('0.0.0.0');
      const named = new Map<string, number>((container.ports as Doc[]).map((p) => [p.name, p.containerPort]));
      const probePort = (probe: Doc): number => (typeof probe.httpGet.port === 'number' ? probe.httpGet.port : named.get(probe.httpGet.port)!);
      expect(container.livenessProbe.httpGet.path, f).toBe('/healthz');
      expect(container.readinessProbe.httpGet.path, f).toBe('/readyz');
      expect(container.startupProbe.httpGet.path, f).toBe('/readyz');
      for (const probe of [container.livenessProbe, container.readinessProbe, container.startupProbe]) expect(probePort(probe), f).toBe(port);
      const service = find(docs, 'Service');
      if (service) expect(service.spec.ports[0].targetPort, f).toBe('admin');
    }
  });

  it('selectors match the pod labels; the PDB, Service, ServiceMonitor and ScaledObject point at this Deployment', () => {
    for (const [f, docs] of rendered) {
      const deployment = find(docs, 'Deployment')!;
      const podLabels = deployment.spec.template.metadata.labels as Record<string, string>;
      const matches = (selector: Record<string, string>): boolean => Object.entries(selector).every(([k, v]) => podLabels[k] === v);
      expect(matches(deployment.spec.selector.matchLabels), f).toBe(true);
      for (const kind of ['PodDisruptionBudget', 'ServiceMonitor']) {
        const d = find(docs, kind);
        if (d) expect(d.spec.selector.matchLabels, `${f} ${kind}`).toEqual(deployment.spec.selector.matchLabels);
      }
      const service = find(docs, 'Service');
      if (service) expect(matches(service.spec.selector), f).toBe(true);
      const so = find(docs, 'ScaledObject');
      if (so) {
        expect(so.spec.scaleTargetRef, f).toMatchObject({ apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name });
        expect(deployment.spec.replicas, `${f}: KEDA owns the replica count`).toBeUndefined();
      }
      for (const d of docs) {
        for (const label of ['app.kubernetes.io/name', 'app.kubernetes.io/instance', 'app.kubernetes.io/version', 'app.kubernetes.io/managed-by', 'helm.sh/chart']) {
          expect(d.metadata.labels?.[label], `${f} ${d.kind} ${label}`).toBeTruthy();
        }
      }
    }
  });

  it('KEDA scales on the work queue through the management API, its URL from the Secret', () => {
    const docs = rendered.get(CI_VALUES[1]!)!;
    const so = find(docs, 'ScaledObject')!;
    const trigger = so.spec.triggers[0];
    expect(trigger.type).toBe('rabbitmq');
    expect(trigger.metadata).toMatchObject({ protocol: 'http', mode: 'QueueLength', value: '50', queueName: podEnv(docs).DEDUP_QUEUE });
    const auth = find(docs, 'TriggerAuthentication')!;
    expect(trigger.authenticationRef.name).toBe(auth.metadata.name);
    const ref = auth.spec.secretTargetRef[0];
    expect(ref.parameter).toBe('host');
    const secret = find(docs, 'Secret')!;
    expect(ref.name).toBe(secret.metadata.name);
    expect(secret.stringData[ref.key]).toBe('http://app:secret@rabbitmq:15672/%2F');
    // Without KEDA: a fixed replica count and no KEDA objects.
    const plain = rendered.get(CI_VALUES[0]!)!;
    expect(find(plain, 'ScaledObject')).toBeUndefined();
    expect(find(plain, 'Deployment')!.spec.replicas).toBe(2);
    expect(() => render([CI_VALUES[0]!], ['keda.enabled=true'])).toThrow(/keda\.managementUrl: the RabbitMQ management API URL/);
  });

  it('URLs and the admin token come from a Secret, never from plain env values', () => {
    for (const [f, docs] of rendered) {
      const env = find(docs, 'Deployment')!.spec.template.spec.containers[0].env as Doc[];
      for (const name of ['DEDUP_AMQP_URL', 'DEDUP_REDIS_URL', 'DEDUP_ADMIN_TOKEN']) {
        const e = env.find((x) => x.name === name)!;
        expect(e.value, `${f} ${name}`).toBeUndefined();
        expect(e.valueFrom.secretKeyRef.name, `${f} ${name}`).toBeTruthy();
      }
    }
    const external = rendered.get(CI_VALUES[2]!)!;
    expect(find(external, 'Secret')).toBeUndefined();
    expect(find(external, 'Deployment')!.spec.template.spec.containers[0].env.find((e: Doc) => e.name === 'DEDUP_AMQP_URL').valueFrom.secretKeyRef.name).toBe('emails-dedup');
  });

  it('runs as non-root on a read-only root with /tmp writable; the handler ConfigMap is mounted where pool.handler points', () => {
    const docs = rendered.get(CI_VALUES[2]!)!;
    const pod = find(docs, 'Deployment')!.spec.template.spec;
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(pod.containers[0].securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    const mounts = pod.containers[0].volumeMounts as Doc[];
    expect(mounts.find((m) => m.mountPath === '/tmp')).toBeTruthy();
    const handler = mounts.find((m) => m.name === 'handler')!;
    expect(podEnv(docs).DEDUP_HANDLER!.startsWith(`${handler.mountPath}/`)).toBe(true);
    expect(pod.volumes.find((v: Doc) => v.name === 'handler').configMap.name).toBe('emails-handler');
  });

  it('the chart runs the package version it ships with', () => {
    const chart = parseYaml(readFileSync(`${ROOT}/${CHART}/Chart.yaml`, 'utf8'))[0]!;
    const pkg = JSON.parse(readFileSync(`${ROOT}/package.json`, 'utf8')) as { version: string };
    expect(chart.appVersion).toBe(pkg.version);
  });

  it('deploy/kubernetes holds the chart rendered with its defaults (npm run manifests), valid as it is', () => {
    const committed = readFileSync(`${ROOT}/${MANIFESTS}`, 'utf8');
    expect(committed).toBe(renderManifests());
    expect(parseYaml(committed).map(schemaErrors).filter(Boolean)).toEqual([]);
  });
});
