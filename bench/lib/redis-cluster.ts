/**
 * A throwaway Redis Cluster on loopback: 3 masters + 3 replicas, each a
 * redis-server of its own (own port, pid file and directory, no persistence),
 * created with `redis-cli --cluster create`. Never touches the machine's Redis.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';

const run = promisify(execFile);

export interface ClusterNode {
  port: number;
  url: string;
  process: ChildProcess;
}

export interface RedisClusterHarness {
  nodes: ClusterNode[];
  /** Seed URLs for --redis-cluster. */
  urls: string[];
  /** The nodes that are masters now, by asking the cluster. */
  masters(): Promise<ClusterNode[]>;
  /** SIGKILL one node. */
  kill(node: ClusterNode): Promise<void>;
  /** The node's cluster id (CLUSTER MYID). */
  nodeId(node: ClusterNode): Promise<string>;
  /** The hash slots the node serves by its own account (slots it is migrating away still count). */
  slotsOf(node: ClusterNode): Promise<number[]>;
  /**
   * Move `slots` hash slots (keys included) from one master to another with
   * `redis-cli --cluster reshard`, while the cluster keeps serving; rejects with the
   * tail of redis-cli's output if it fails.
   */
  reshard(from: ClusterNode, to: ClusterNode, slots: number): Promise<void>;
  /**
   * Finish the slots `from` is still migrating to `to` after a reshard stopped on
   * BUSYKEY (a record hash written on the importing node during the move, while the
   * source still had its own): such a hash's fields are merged into `to`'s copy, other
   * keys move, and the slot is assigned to `to` on every master. Returns those slots.
   */
  settleOpenSlots(from: ClusterNode, to: ClusterNode): Promise<number[]>;
  /** Until every live node says the cluster is ok (and, with `replicated`, every replica's link to its master is up). */
  waitHealthy(timeoutMs?: number, replicated?: boolean): Promise<void>;
  stop(): Promise<void>;
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** A random port in 20000-29999 whose cluster bus port (+10000) is free too. */
async function clusterPort(taken: Set<number>): Promise<number> {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 10000);
    if (!taken.has(port) && (await portFree(port)) && (await portFree(port + 10000))) return port;
  }
}

function client(port: number): Redis {
  const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, enableOfflineQueue: true });
  r.on('error', () => {});
  return r;
}

const slotKeys = (r: Redis, slot: number) => r.call('CLUSTER', 'GETKEYSINSLOT', slot, 100) as Promise<string[]>;

async function ask<T>(port: number, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = client(port);
  try {
    await r.connect();
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

export async function startRedisCluster(opts: { nodeTimeoutMs?: number } = {}): Promise<RedisClusterHarness> {
  const dir = mkdtempSync(join(tmpdir(), 'dedup-cluster-'));
  const taken = new Set<number>();
  const nodes: ClusterNode[] = [];
  for (let i = 0; i < 6; i++) {
    const port = await clusterPort(taken);
    taken.add(port);
    const nodeDir = join(dir, String(port));
    mkdirSync(nodeDir);
    const proc = spawn('redis-server', [
      '--port', String(port), '--bind', '127.0.0.1', '--dir', nodeDir, '--pidfile', join(nodeDir, 'redis.pid'),
      '--save', '', '--appendonly', 'no', '--logfile', join(nodeDir, 'redis.log'),
      '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf',
      '--cluster-node-timeout', String(opts.nodeTimeoutMs ?? 1500), '--cluster-replica-validity-factor', '0',
    ], { stdio: 'ignore' });
    nodes.push({ port, url: `redis://127.0.0.1:${port}`, process: proc });
  }
  const harness: RedisClusterHarness = {
    nodes,
    urls: nodes.map((n) => n.url),
    async masters() {
      const live = nodes.filter((n) => n.process.exitCode === null && n.process.signalCode === null);
      const text = await ask(live[0]!.port, (r) => r.call('CLUSTER', 'NODES') as Promise<string>);
      const ports = text.split('\n').filter((l) => /\bmaster\b/.test(l) && !/\bfail\b/.test(l)).map((l) => Number(/:(\d+)@/.exec(l)![1]));
      return nodes.filter((n) => ports.includes(n.port));
    },
    async kill(node) {
      if (node.process.exitCode !== null || node.process.signalCode !== null) return;
      const exited = new Promise((r) => node.process.once('exit', r));
      node.process.kill('SIGKILL');
      await exited;
    },
    nodeId(node) {
      return ask(node.port, (r) => r.call('CLUSTER', 'MYID') as Promise<string>);
    },
    async slotsOf(node) {
      const text = await ask(node.port, (r) => r.call('CLUSTER', 'NODES') as Promise<string>);
      const mine = text.split('\n').find((l) => /\bmyself\b/.test(l))!;
      // Fields 9 on are slots ("5", "0-5460") and migration states ("[5->-id]"), skipped.
      return mine.split(' ').slice(8).filter((f) => /^\d+(-\d+)?$/.test(f)).flatMap((f) => {
        const [lo, hi] = f.split('-').map(Number) as [number, number | undefined];
        return Array.from({ length: (hi ?? lo) - lo + 1 }, (_, i) => lo + i);
      });
    },
    async reshard(from, to, slots) {
      const [fromId, toId] = await Promise.all([harness.nodeId(from), harness.nodeId(to)]);
      const args = ['--cluster', 'reshard', `127.0.0.1:${from.port}`, '--cluster-from', fromId, '--cluster-to', toId, '--cluster-slots', String(slots), '--cluster-yes'];
      // redis-cli prints a line per slot moved: room for a whole master's worth.
      await run('redis-cli', args, { maxBuffer: 64 * 1024 * 1024 }).catch((err: Error & { stdout?: string; stderr?: string }) => {
        throw new Error(`redis-cli --cluster reshard failed: ${err.message}\n${(err.stdout ?? '').slice(-2000)}${err.stderr ?? ''}`);
      });
    },
    async settleOpenSlots(from, to) {
      const toId = await harness.nodeId(to);
      const mine = (await ask(from.port, (r) => r.call('CLUSTER', 'NODES') as Promise<string>)).split('\n').find((l) => /\bmyself\b/.test(l))!;
      const open = [...mine.matchAll(/\[(\d+)->-([0-9a-f]+)\]/g)].filter((m) => m[2] === toId).map((m) => Number(m[1]));
      const [src, dst] = [client(from.port), client(to.port)];
      try {
        await Promise.all([src.connect(), dst.connect()]);
        for (const slot of open) {
          for (let keys = await slotKeys(src, slot); keys.length > 0; keys = await slotKeys(src, slot)) {
            for (const key of keys) {
              const moved = await src.call('MIGRATE', '127.0.0.1', to.port, key, 0, 5000).then(
                () => true,
                (err: Error) => (/BUSYKEY/.test(err.message) ? false : Promise.reject(err)),
              );
              if (moved) continue;
              // Both hold it: a record hash gets the source's fields too (the same id's record
              // either way); anything else keeps the importing node's newer value.
              if ((await src.type(key)) === 'hash') {
                await dst.call('ASKING'); // the slot is not the node's yet: ASKING admits the next command
                await dst.hset(key, await src.hgetall(key));
              }
              await src.del(key);
            }
          }
          // The new owner first, then the others (as redis-cli does).
          const masters = (await harness.masters()).sort((a, b) => Number(b.port === to.port) - Number(a.port === to.port));
          for (const node of masters) await ask(node.port, (r) => r.call('CLUSTER', 'SETSLOT', slot, 'NODE', toId));
        }
        return open;
      } finally {
        src.disconnect();
        dst.disconnect();
      }
    },
    async waitHealthy(timeoutMs = 30_000, replicated = false) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const live = nodes.filter((n) => n.process.exitCode === null && n.process.signalCode === null);
        const states = await Promise.all(live.map((n) => ask(n.port, (r) => r.call('CLUSTER', 'INFO') as Promise<string>).catch(() => '')));
        const links = replicated ? await Promise.all(live.map((n) => ask(n.port, (r) => r.info('replication')).catch(() => ''))) : [];
        const linked = links.every((l) => (l.includes('role:master') ? /connected_slaves:[1-9]/.test(l) : l.includes('master_link_status:up')));
        if (linked && states.every((s) => s.includes('cluster_state:ok') && s.includes('cluster_slots_ok:16384'))) return;
        if (Date.now() > deadline) throw new Error(`redis cluster not healthy after ${timeoutMs}ms`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stop() {
      await Promise.all(nodes.map((n) => harness.kill(n)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    for (const n of nodes) {
      const deadline = Date.now() + 10_000;
      while (!(await ask(n.port, (r) => r.ping()).then(() => true, () => false))) {
        if (Date.now() > deadline) throw new Error(`redis-server on ${n.port} did not start`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '1', '--cluster-yes']);
    await harness.waitHealthy(30_000, true);
  } catch (err) {
    await harness.stop();
    throw err;
  }
  return harness;
}
