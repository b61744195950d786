/**
 * Test hosts as network namespaces on this machine: each gets a veth link to the
 * root namespace and a TCP proxy there that forwards its RabbitMQ and Redis
 * connections to the services on loopback (which listen on 127.0.0.1 only, and
 * RabbitMQ's guest user may only connect from loopback).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createConnection, createServer, type Server, type Socket } from 'node:net';

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: 'pipe' });
}

/** Why namespaces cannot be used here, or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  const probe = `dp-probe-${randomBytes(2).toString('hex')}`;
  try {
    ip('netns', 'add', probe);
    ip('netns', 'del', probe);
    return undefined;
  } catch (err) {
    return `network namespaces cannot be created here (${(err as Error).message.split('\n')[0]})`;
  }
}

export interface TestHost {
  ns: string;
  /** This host's address, as the root namespace sees it. */
  address: string;
  /** The root namespace's address on the link: where the host finds RabbitMQ and Redis. */
  gateway: string;
  /** Cut the host off: its link goes down, packets vanish (no resets). */
  cut(): void;
  restore(): void;
  remove(): Promise<void>;
}

interface Proxy {
  server: Server;
  sockets: Set<Socket>;
}

function proxy(listenHost: string, port: number, target: number): Promise<Proxy> {
  const sockets = new Set<Socket>();
  const server = createServer((down) => {
    const up = createConnection({ host: '127.0.0.1', port: target });
    for (const s of [down, up]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        sockets.delete(s);
        down.destroy();
        up.destroy();
      });
    }
    down.pipe(up);
    up.pipe(down);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, listenHost, () => resolve({ server, sockets }));
  });
}

export async function createHost(index: number): Promise<TestHost> {
  const tag = randomBytes(2).toString('hex');
  const ns = `dp-${tag}-${index}`;
  const outside = `dpo${tag}${index}`;
  const inside = `dpi${tag}${index}`;
  const subnet = `10.231.${100 + index}`;
  const gateway = `${subnet}.1`;
  const address = `${subnet}.2`;
  ip('netns', 'add', ns);
  ip('link', 'add', outside, 'type', 'veth', 'peer', 'name', inside);
  ip('link', 'set', inside, 'netns', ns);
  ip('addr', 'add', `${gateway}/24`, 'dev', outside);
  ip('link', 'set', outside, 'up');
  ip('netns', 'exec', ns, 'ip', 'addr', 'add', `${address}/24`, 'dev', inside);
  ip('netns', 'exec', ns, 'ip', 'link', 'set', inside, 'up');
  ip('netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up');
  const proxies = [await proxy(gateway, 5672, 5672), await proxy(gateway, 6379, 6379)];
  return {
    ns,
    address,
    gateway,
    cut: () => ip('link', 'set', outside, 'down'),
    restore: () => ip('link', 'set', outside, 'up'),
    async remove() {
      // server.close() waits for open connections, so end them first.
      for (const p of proxies) p.sockets.forEach((s) => s.destroy());
      await Promise.all(proxies.map((p) => new Promise((r) => p.server.close(r))));
      try {
        ip('netns', 'del', ns);
      } catch {
        // already gone
      }
      try {
        ip('link', 'del', outside);
      } catch {
        // removed with the namespace
      }
    },
  };
}
