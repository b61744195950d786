/**
 * A TCP proxy a test controls, for faults that are not crashes: `cut()` stops
 * forwarding in both directions without closing anything (a partition: packets stop,
 * no reset; a close by either side waits for the heal too), `heal()` resumes,
 * `reset()` destroys every connection, `latencyMs` delays each chunk (plus a random
 * 0..`jitterMs` each, order kept), `mode` drops one direction for good (`hold`: the
 * client's bytes, `mute`: the server's answers), `refusing` closes new connections at
 * once. Listens on `listenPort`, or an ephemeral loopback port.
 */
import net from 'node:net';

export interface TcpProxy {
  readonly port: number;
  /** The target URL with host and port replaced by the proxy's. */
  url(target: string): string;
  latencyMs: number;
  /** Extra random delay per chunk, 0..jitterMs; chunks still arrive in order. */
  jitterMs: number;
  mode: 'pass' | 'hold' | 'mute';
  refusing: boolean;
  cut(): void;
  heal(): void;
  reset(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1', listenPort = 0): Promise<TcpProxy> {
  const pairs = new Set<[net.Socket, net.Socket]>();
  let cut = false;
  const held: (() => void)[] = [];
  const proxy = { latencyMs: 0, jitterMs: 0, mode: 'pass', refusing: false } as TcpProxy;

  const pipe = (from: net.Socket, to: net.Socket, dropIn: TcpProxy['mode']): void => {
    const ordered = inOrder();
    from.on('data', (chunk) => {
      if (proxy.mode === dropIn) return;
      const send = (): void => {
        if (!to.destroyed) to.write(chunk);
      };
      // Order is kept: while cut, and under latency (also when it is lowered while chunks
      // still wait: a later chunk never overtakes them), chunks go in turn.
      const go = (): void => ordered(proxy.latencyMs + (proxy.jitterMs > 0 ? Math.random() * proxy.jitterMs : 0), send);
      if (cut) held.push(go);
      else go();
    });
  };

  const server = net.createServer((client) => {
    if (proxy.refusing) return void client.destroy();
    const upstream = net.connect(targetPort, targetHost);
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    const end = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    // A close is a packet too: during a cut the other side cannot learn of it until the heal.
    const closed = (): void => void (cut ? held.push(end) : end());
    client.on('error', closed).on('close', closed);
    upstream.on('error', closed).on('close', closed);
    pipe(client, upstream, 'hold');
    pipe(upstream, client, 'mute');
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(listenPort, '127.0.0.1', () => resolve()));
  const port = (server.address() as net.AddressInfo).port;

  return Object.assign(proxy, {
    port,
    url: (target: string) => {
      const u = new URL(target);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString().replace(/\/$/, '');
    },
    cut: () => void (cut = true),
    heal: () => {
      cut = false;
      for (const go of held.splice(0)) go();
    },
    reset: () => {
      held.length = 0;
      for (const [a, b] of pairs) {
        a.resetAndDestroy();
        b.resetAndDestroy();
      }
      pairs.clear();
    },
    close: async () => {
      proxy.reset();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}

/**
 * Delays that vary per chunk (or change while chunks wait), without reordering: a chunk
 * is sent at its own due time or right after the chunk before it, whichever is later
 * (one timer per direction); with no delay and nothing waiting, at once.
 */
function inOrder(): (delayMs: number, send: () => void) => void {
  const waiting: { due: number; send: () => void }[] = [];
  let timer: NodeJS.Timeout | undefined;
  const flush = (): void => {
    timer = undefined;
    while (waiting.length > 0 && waiting[0]!.due <= Date.now()) waiting.shift()!.send();
    if (waiting.length > 0) timer = setTimeout(flush, waiting[0]!.due - Date.now());
  };
  return (delayMs, send) => {
    if (delayMs <= 0 && waiting.length === 0) return send();
    const due = Math.max(Date.now() + delayMs, waiting.at(-1)?.due ?? 0);
    waiting.push({ due, send });
    timer ??= setTimeout(flush, due - Date.now());
  };
}
