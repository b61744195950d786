/**
 * Where a V8 CPU profile (node --cpu-prof) spends its time: self time per function,
 * grouped by area (a library, a part of the pool, the thread hop, the VM). Pure: the
 * profile's JSON in, figures out; bench/profile.ts reads the files.
 */

export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Areas by the url of the function (first match wins); native functions (no url) go by name. */
const AREAS: [RegExp, string][] = [
  [/node_modules\/amqplib\//, 'amqplib'],
  [/node_modules\/(ioredis|redis-parser|redis-errors|standard-as-callback|denque|cluster-key-slot)\//, 'ioredis'],
  [/node_modules\/(pino|pino-std-serializers|sonic-boom|thread-stream|fast-redact|quick-format-unescaped|atomic-sleep|on-exit-leak-free)\//, 'pino'],
  [/node_modules\/piscina\//, 'piscina'],
  [/node_modules\/(prom-client|tdigest|bintrees)\//, 'metrics'],
  [/node_modules\/@opentelemetry\//, 'tracing (otel)'],
  [/\/src\/replica\/(stats|summary)\.js|\/src\/supervisor\/(metrics|rates|history)\.js/, 'metrics'],
  [/\/src\/common\/tracing\.js|\/src\/replica\/message-trace\.js/, 'tracing (otel)'],
  [/\/src\/replica\//, 'pipeline (replica/)'],
  [/\/src\/store\//, 'store (store/)'],
  [/\/src\/amqp\//, 'amqp (amqp/)'],
  [/\/src\/threads\/|\/workers\//, 'threads (threads/, worker)'],
  [/\/src\/supervisor\//, 'supervisor'],
  [/\/src\/(common|cli)\//, 'common, cli'],
  [/\/bench\//, 'bench handler'],
  [/node:internal\/(worker|per_context\/messageport)|node:worker_threads/, 'structured clone, postMessage'],
  [/node:internal\/child_process|node:child_process/, 'IPC (child_process)'],
  [/node:internal\/(streams|stream_base_commons|net)|node:net|node:stream/, 'sockets, streams'],
  [/node:internal\/(modules|bootstrap|main)|node:internal\/vm/, 'start-up (module loading)'],
  [/node:internal\/crypto/, 'crypto (SHA-256)'],
  [/^node:|^internal\//, 'node core (timers, promises, events, ...)'],
  [/node_modules\//, 'other libraries'],
];

const VM: Record<string, string> = {
  '(idle)': 'idle',
  '(program)': 'VM, native (unattributed)',
  '(garbage collector)': 'garbage collector',
  '(root)': 'VM, native (unattributed)',
};

/** Native functions met by name (no url): where they belong. */
const NATIVE: [RegExp, string][] = [
  [/^(postMessage|structuredClone|deserialize|serialize|receiveMessageOnPort|drainMessagePort)$/, 'structured clone, postMessage'],
  [/^(writeUtf8String|writeBuffer|writev|writevGeneric|onStreamRead|readv)$/, 'sockets, streams'],
  [/^(parse|stringify)$/, 'JSON parse/stringify'],
  [/^writeFileUtf8$/, 'file writes (the bench ledger)'],
];

export function areaOf(frame: { functionName: string; url: string }): string {
  if (VM[frame.functionName] && !frame.url) return VM[frame.functionName]!;
  if (!frame.url) return NATIVE.find(([re]) => re.test(frame.functionName))?.[1] ?? 'native builtins (other)';
  return AREAS.find(([re]) => re.test(frame.url))?.[1] ?? 'other';
}

export interface ProfileSummary {
  /** Microseconds sampled, idle excluded. */
  busyUs: number;
  byArea: [string, number][];
  /** [function, url:line, area, self us], largest first. */
  top: [string, string, string, number][];
}

/** When each sample was taken (the profile's clock, microseconds). */
function sampleTimes(p: CpuProfile): number[] {
  let t = p.startTime;
  return p.samples.map((_, i) => (t += p.timeDeltas[i] ?? 0));
}

/** Self time per node; a sample's time is the delta that follows it (as DevTools counts); only samples inside `window` when given. */
function selfTimes(p: CpuProfile, window?: [number, number]): Map<number, number> {
  const at = sampleTimes(p);
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    if (window && (at[i]! < window[0] || at[i]! > window[1])) continue;
    self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + Math.max(0, p.timeDeltas[i + 1] ?? 0));
  }
  return self;
}

/**
 * The span in which a profile ran code whose url matches `re` (first to last such sample):
 * for a replica and /replica\/pipeline\.js/, the consumption, start-up and drain left out.
 * Profiles of one host share the clock, so the span of the replica applies to its threads.
 */
export function activeWindow(p: CpuProfile, re: RegExp): [number, number] | undefined {
  const nodes = new Map(p.nodes.map((n) => [n.id, n]));
  const at = sampleTimes(p);
  let from: number | undefined;
  let to: number | undefined;
  p.samples.forEach((id, i) => {
    if (!re.test(nodes.get(id)!.callFrame.url)) return;
    from ??= at[i];
    to = at[i];
  });
  return from === undefined ? undefined : [from, to!];
}

/** Self time per function and per area, over the whole profile or `window`. */
export function summarize(p: CpuProfile, topN = 25, window?: [number, number]): ProfileSummary {
  const nodes = new Map(p.nodes.map((n) => [n.id, n]));
  const self = selfTimes(p, window);
  const byArea = new Map<string, number>();
  const byFunction = new Map<string, [string, string, string, number]>();
  let busyUs = 0;
  for (const [id, us] of self) {
    const f = nodes.get(id)!.callFrame;
    const area = areaOf(f);
    if (area === 'idle') continue;
    busyUs += us;
    byArea.set(area, (byArea.get(area) ?? 0) + us);
    const where = f.url ? `${f.url.replace(/^.*\/(node_modules|dist)\//, '$1/')}:${f.lineNumber + 1}` : '(native)';
    const key = `${f.functionName}|${where}`;
    const row = byFunction.get(key) ?? [f.functionName || '(anonymous)', where, area, 0];
    row[3] += us;
    byFunction.set(key, row);
  }
  return {
    busyUs,
    byArea: [...byArea].sort((a, b) => b[1] - a[1]),
    top: [...byFunction.values()].sort((a, b) => b[3] - a[3]).slice(0, topN),
  };
}

/** Which process or thread a profile is of, from the scripts it ran. */
export function roleOf(p: CpuProfile): string {
  const urls = new Set(p.nodes.map((n) => n.callFrame.url));
  const has = (re: RegExp) => [...urls].some((u) => re.test(u));
  if (has(/workers\/handler-worker\.js$/)) return 'worker thread';
  if (has(/replica\/replica-process\.js$/)) return 'replica';
  if (has(/cli\/main\.js$/)) return 'supervisor';
  if (has(/node_modules\/(pino|thread-stream)\//) && !has(/\/src\//)) return 'logger thread';
  return 'other';
}

/**
 * Who a function's self time is spent for: its time grouped by the nearest `depth` callers
 * that are code of the pool or a library (node's internals skipped), largest first.
 */
export function callersOf(p: CpuProfile, functionName: string, depth = 2, window?: [number, number]): [string, number][] {
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const nodes = new Map(p.nodes.map((n) => [n.id, n]));
  const self = selfTimes(p, window);
  const out = new Map<string, number>();
  for (const [id, us] of self) {
    if (nodes.get(id)!.callFrame.functionName !== functionName) continue;
    const chain: string[] = [];
    for (let up = parent.get(id); up !== undefined && chain.length < depth; up = parent.get(up)) {
      const f = nodes.get(up)!.callFrame;
      if (f.url && !/^node:/.test(f.url)) chain.push(`${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(node_modules|dist)\//, '$1/')}:${f.lineNumber + 1}`);
    }
    const key = chain.join(' < ') || '(no caller in the pool or a library)';
    out.set(key, (out.get(key) ?? 0) + us);
  }
  return [...out].sort((a, b) => b[1] - a[1]);
}
