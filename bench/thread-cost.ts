/**
 * Where a pool's CPU goes, thread by thread: a pool (`dedup-pool start`, the bench's noop
 * handler) drains a queue filled beforehand, and each thread's CPU per message is read
 * from /proc/<pid>/task/<tid>/schedstat (exact run time; the tick-sampled /proc/<pid>/stat
 * the full bench reads cannot tell short bursts of helper threads apart).
 *
 *   node dist/bench/thread-cost.js [--messages N] [--replicas N] [--threads N] [--handler noop|cpu|io] [--handler-ms N] [--node-flags "..."]
 *
 * A replica's threads, by tid order: its main thread (tid = pid), then V8's platform
 * workers (JIT compilation, concurrent marking, parallel scavenges) and the libuv pool,
 * then its handler threads and watchdog. CPU is counted from when the pool is ready until
 * the queue is empty, so module loading is not in it, but the JIT's warm-up is: compare
 * runs of different lengths to see the part that does not grow with the messages.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import { Redis } from 'ioredis';

const { values } = parseArgs({
  options: {
    amqp: { type: 'string', default: 'amqp://guest:guest@127.0.0.1:5672' },
    redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
    messages: { type: 'string', default: '60000' },
    replicas: { type: 'string', default: '1' },
    threads: { type: 'string', default: '1' },
    handler: { type: 'string', default: 'noop' },
    'handler-ms': { type: 'string', default: '0' },
    'node-flags': { type: 'string', default: '' },
  },
});
const count = (name: 'messages' | 'replicas' | 'threads', min: number): number => {
  const n = Number(values[name]);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer of at least ${min} (got ${values[name]})`);
  return n;
};
const [messages, replicas, threads] = [count('messages', 1), count('replicas', 1), count('threads', 0)];
// The bench's handler (bench/handler.ts): noop, cpu (busy for --handler-ms) or io (awaits --handler-ms).
const handler = values.handler;
if (!['noop', 'cpu', 'io'].includes(handler)) throw new Error(`--handler must be noop, cpu or io (got ${handler})`);
const handlerMs = Number(values['handler-ms']);
if (!(handlerMs >= 0)) throw new Error(`--handler-ms must be a number of 0 or more (got ${values['handler-ms']})`);
const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));

/** Run time of each thread of `pid`, seconds, by "pid/tid". */
function threadSeconds(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        out.set(`${pid}/${tid}`, Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e9);
      } catch {
        // the thread ended meanwhile
      }
    }
  } catch {
    // the process ended
  }
  return out;
}

const queue = `thread-cost-${Date.now().toString(36)}`;
const conn = await amqp.connect(values.amqp);
const ch = await conn.createConfirmChannel();
await ch.assertQueue(queue, { durable: true });
for (let i = 0; i < messages; i++) {
  ch.sendToQueue(queue, Buffer.from(JSON.stringify({ message_id: `m-${i}`, data: {} })), { contentType: 'application/json', persistent: true });
  if (i % 5000 === 4999) await ch.waitForConfirms();
}
await ch.waitForConfirms();

const pool = spawn(
  process.execPath,
  [...values['node-flags'].split(' ').filter(Boolean), here('../../bin/dedup-pool.js'), 'start', '--queue', queue, '--prefix', queue, '--handler', here('./handler.js'),
    '--replicas', String(replicas), '--threads', String(threads), '--prefetch', '100', '--amqp', values.amqp, '--redis', values.redis, '--admin', '127.0.0.1:0', '--log-level', 'info'],
  { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, BENCH_HANDLER: handler, BENCH_HANDLER_MS: String(handlerMs), BENCH_LEDGER: undefined } },
);
const admin = await new Promise<string>((resolve, reject) => {
  let seen = '';
  pool.stdout!.on('data', (chunk: Buffer) => {
    seen += chunk.toString();
    const m = /"admin":"([^"]+)"/.exec(seen);
    if (m) resolve(m[1]!);
  });
  pool.once('exit', (code) => reject(new Error(`dedup-pool start exited with ${code}`)));
});
pool.stdout!.resume();
let pids: number[] = [];
for (;;) {
  const s = (await (await fetch(`http://${admin}/status`)).json()) as { ready: boolean; slots: { pid?: number }[] };
  pids = s.slots.flatMap((slot) => (slot.pid ? [slot.pid] : []));
  if (s.ready && pids.length === replicas) break;
  await new Promise((r) => setTimeout(r, 50));
}
const all = [pool.pid!, ...pids];
const snapshot = (): Map<string, number> => new Map(all.flatMap((p) => [...threadSeconds(p)]));
// Counted from here: what is still queued (the pool may have begun already).
const counted = (await ch.checkQueue(queue)).messageCount;
const before = snapshot();
const t0 = performance.now();
while ((await ch.checkQueue(queue)).messageCount > 0) await new Promise((r) => setTimeout(r, 20));
await new Promise((r) => setTimeout(r, 300)); // the last acks and completions
const after = snapshot();
const seconds = (performance.now() - t0) / 1000;

const perMessage = [...after].map(([k, s]) => [k, ((s - (before.get(k) ?? 0)) * 1e6) / counted] as const).filter(([, us]) => us >= 0.1);
const role = (k: string): string => {
  const [pid, tid] = k.split('/');
  if (pid === String(pool.pid)) return tid === pid ? 'supervisor' : 'supervisor thread';
  return tid === pid ? 'replica main thread' : 'replica thread';
};
process.stdout.write(`${counted} messages in ${seconds.toFixed(2)} s (${Math.round(counted / seconds)}/s), ${replicas} replica(s) x ${threads} thread(s), ${handler} handler${handlerMs ? ` (${handlerMs} ms)` : ''}${values['node-flags'] ? `, node ${values['node-flags']}` : ''}\n`);
for (const [k, us] of perMessage.sort((a, b) => b[1] - a[1])) process.stdout.write(`${us.toFixed(1).padStart(7)} us/msg  ${k.padEnd(14)} ${role(k)}\n`);
const sum = (which: (k: string) => boolean): number => perMessage.filter(([k]) => which(k)).reduce((n, [, us]) => n + us, 0);
process.stdout.write(`${sum(() => true).toFixed(1).padStart(7)} us/msg  in all (main threads ${sum((k) => role(k) === 'replica main thread').toFixed(1)}, other replica threads ${sum((k) => role(k) === 'replica thread').toFixed(1)})\n`);

pool.kill('SIGTERM');
await new Promise((r) => pool.once('exit', r));
await ch.deleteQueue(queue);
for (const q of [`${queue}.dlq`, `${queue}.retry`]) await ch.deleteQueue(q).catch(() => {});
await conn.close();
const redis = new Redis(values.redis);
for (let cursor = '0'; ; ) {
  const [next, keys] = await redis.scan(cursor, 'MATCH', `${queue}:*`, 'COUNT', 1000);
  if (keys.length > 0) await redis.del(...keys);
  if ((cursor = next) === '0') break;
}
redis.disconnect();
