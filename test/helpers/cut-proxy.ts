/**
 * A TCP proxy in front of a server that a test can disturb: hold what the client
 * sends, drop what the server answers, cut every connection, refuse new ones.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface CutProxy {
  port: number;
  /** `pass`: both ways; `hold`: the client's bytes are kept back; `mute`: the server's answers are dropped. */
  mode: 'pass' | 'hold' | 'mute';
  /** New connections are closed at once while set. */
  refusing: boolean;
  /** Close every open connection (what was held is never sent). */
  cut(): void;
  close(): Promise<void>;
}

export async function startCutProxy(port: number, target: number): Promise<CutProxy> {
  const open = new Set<Socket>();
  const proxy: CutProxy = {
    port,
    mode: 'pass',
    refusing: false,
    cut() {
      for (const s of open) s.destroy();
      open.clear();
    },
    async close() {
      proxy.cut();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server: Server = createServer((client) => {
    if (proxy.refusing) return void client.destroy();
    const upstream = connect(target, '127.0.0.1');
    open.add(client).add(upstream);
    client.on('data', (b) => proxy.mode !== 'hold' && upstream.write(b));
    upstream.on('data', (b) => proxy.mode !== 'mute' && client.write(b));
    for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
      a.on('error', () => {});
      a.on('close', () => b.destroy());
    }
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', () => resolve()));
  return proxy;
}
