/**
 * A throwaway RabbitMQ cluster on loopback, for the cluster tests and the bench's
 * chaos: N nodes with their own names, ports and data directories, never the
 * machine's own node (rabbit@... on 5672).
 *
 * Each node gets its own config file (the system one pins port 5672), an empty
 * env file (the system one sets the node name), and its own node name, ports and
 * directories in a folder the `rabbitmq` user can write (run as root, the server
 * and CLI drop to that user and share its Erlang cookie). Distribution stays on
 * loopback. The CLI gets its own port range, so parallel clusters do not collide.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface RabbitNode {
  /** Erlang node name, like `dp-3f2a-1@localhost`. */
  name: string;
  port: number;
  url: string;
  dir: string;
  /** Erlang distribution port, picked at first boot. */
  distPort?: number;
}

export interface RabbitCluster {
  nodes: RabbitNode[];
  /** The nodes' URLs, comma-separated, as `--amqp` takes them. */
  amqpList: string;
  /** rabbitmqctl against one node (stdout). */
  ctl(node: RabbitNode, ...args: string[]): Promise<string>;
  /** The node a quorum queue's leader runs on. */
  leaderOf(queue: string): Promise<RabbitNode>;
  /** SIGKILL a node's Erlang VM. */
  kill(node: RabbitNode): void;
  /** Boot a killed node again (same data: it rejoins the cluster). */
  restart(node: RabbitNode): Promise<void>;
  /** Whether a node's VM is running. */
  alive(node: RabbitNode): boolean;
  stop(): Promise<void>;
}

/** A free TCP port on loopback in a high range (random, so parallel clusters rarely meet). */
async function freeHighPort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 40_000);
    const free = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

function pidOf(node: RabbitNode): number | undefined {
  try {
    const pid = Number(readFileSync(join(node.dir, 'pid'), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isRunning(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Start `size` nodes and join them into one cluster. Takes ~10 s per node on a loaded machine. `conf`: more rabbitmq.conf lines for every node. */
export async function startRabbitCluster(size = 3, conf: string[] = []): Promise<RabbitCluster> {
  const tag = randomBytes(2).toString('hex');
  const base = mkdtempSync('/tmp/dedup-rabbit-');
  chmodSync(base, 0o755);
  const ctlPortMin = await freeHighPort();
  const emptyEnv = join(base, 'rabbitmq-env.conf');
  writeFileSync(emptyEnv, '');
  const common = {
    ...process.env,
    RABBITMQ_CONF_ENV_FILE: emptyEnv,
    ERL_EPMD_ADDRESS: '127.0.0.1',
    RABBITMQ_CTL_DIST_PORT_MIN: String(ctlPortMin),
    RABBITMQ_CTL_DIST_PORT_MAX: String(ctlPortMin + 10),
  };

  const nodes: RabbitNode[] = [];
  for (let i = 1; i <= size; i++) {
    const port = await freeHighPort();
    const dir = join(base, `n${i}`);
    mkdirSync(dir);
    writeFileSync(
      join(dir, 'rabbitmq.conf'),
      [`listeners.tcp.1 = 127.0.0.1:${port}`, 'loopback_users = none', 'disk_free_limit.absolute = 1MB', 'log.console = false', ...conf, ''].join('\n'),
    );
    writeFileSync(join(dir, 'enabled_plugins'), '[].\n');
    nodes.push({ name: `dp-${tag}-${i}@localhost`, port, url: `amqp://guest:guest@127.0.0.1:${port}`, dir });
  }
  execFileSync('chown', ['-R', 'rabbitmq:rabbitmq', base]);

  const ctl = async (node: RabbitNode, ...args: string[]): Promise<string> => {
    const { stdout } = await run('rabbitmqctl', ['-n', node.name, ...args, '-q'], { env: common, timeout: 60_000 });
    return stdout;
  };

  const cluster: RabbitCluster = {
    nodes,
    amqpList: nodes.map((n) => n.url).join(','),
    ctl,
    async leaderOf(queue) {
      for (const via of nodes.filter((n) => cluster.alive(n))) {
        const out = await ctl(via, 'list_queues', 'name', 'leader', '--no-table-headers').catch(() => '');
        for (const line of out.split('\n')) {
          const [name, leader] = line.trim().split(/\s+/);
          const node = nodes.find((n) => n.name === leader);
          if (name === queue && node) return node;
        }
      }
      throw new Error(`no leader found for queue ${queue}`);
    },
    kill(node) {
      const pid = pidOf(node);
      if (isRunning(pid)) process.kill(pid!, 'SIGKILL');
    },
    alive: (node) => isRunning(pidOf(node)),
    restart: (node) => bootNode(node, common, ctl),
    async stop() {
      process.off('exit', killAll);
      killAll();
      await sleep(200);
      rmSync(base, { recursive: true, force: true });
    },
  };
  // A test run that dies must not leave nodes behind.
  const killAll = (): void => nodes.forEach((n) => cluster.kill(n));
  process.on('exit', killAll);

  try {
    await Promise.all(nodes.map((node) => bootNode(node, common, ctl)));
    for (const node of nodes.slice(1)) {
      await ctl(node, 'stop_app');
      await ctl(node, 'join_cluster', nodes[0]!.name);
      await ctl(node, 'start_app');
    }
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

async function bootNode(node: RabbitNode, common: NodeJS.ProcessEnv, ctl: RabbitCluster['ctl']): Promise<void> {
  const { dir } = node;
  const env = {
    ...common,
    RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq.conf'),
    RABBITMQ_NODENAME: node.name,
    RABBITMQ_DIST_PORT: String((node.distPort ??= await freeHighPort())),
    RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(dir, 'log'),
    RABBITMQ_PID_FILE: join(dir, 'pid'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
    RABBITMQ_FEATURE_FLAGS_FILE: join(dir, 'feature_flags'),
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
  };
  // -detached returns at once; await_startup fails until the node has registered, so retry it.
  await new Promise<void>((resolve, reject) => {
    const p = spawn('rabbitmq-server', ['-detached'], { env, stdio: 'ignore' });
    p.once('error', reject);
    p.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`rabbitmq-server -detached exited ${code} for ${node.name}`))));
  });
  const deadline = Date.now() + 90_000;
  for (;;) {
    try {
      await ctl(node, 'await_startup', '--timeout', '10');
      return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`RabbitMQ node ${node.name} did not start: ${(err as Error).message.split('\n')[0]}`);
      await sleep(500);
    }
  }
}
