/** The tests' TCP proxy keeps each direction's bytes in order, whatever its latency does meanwhile. */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.js';

describe('tcp proxy', () => {
  const closers: (() => unknown)[] = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
  });

  it('latency lowered to 0 while chunks still wait: later chunks do not overtake them (with jitter too)', async () => {
    const echo = net.createServer((s) => s.on('error', () => {}).pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise((r) => echo.close(r)));
    const proxy: TcpProxy = await startTcpProxy((echo.address() as net.AddressInfo).port);
    closers.push(() => proxy.close());
    const client = net.connect(proxy.port, '127.0.0.1').on('error', () => {});
    closers.push(() => client.destroy());
    await new Promise((r) => client.once('connect', r));
    let got = '';
    client.on('data', (c) => (got += c.toString()));
    const sent: string[] = [];
    const send = (n: number): void => {
      const line = `${String(n).padStart(4, '0')};`;
      sent.push(line);
      client.write(line);
    };
    proxy.latencyMs = 200;
    proxy.jitterMs = 50;
    for (let i = 0; i < 20; i++) {
      send(i);
      await new Promise((r) => setTimeout(r, 5));
    }
    proxy.latencyMs = 0;
    proxy.jitterMs = 0;
    for (let i = 20; i < 40; i++) send(i);
    const deadline = Date.now() + 5000;
    while (got.length < sent.join('').length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(got).toBe(sent.join(''));
  });
});
