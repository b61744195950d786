import { afterEach, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { drain, testEnv, type TestEnv } from './helpers/services.js';
import { spawnCli } from './helpers/processes.js';

const BROKEN = fileURLToPath(new URL('./fixtures/broken-handler.mjs', import.meta.url));

describe('dedup-pool CLI', () => {
  let env: TestEnv | undefined;
  afterEach(async () => {
    await env?.cleanup();
    env = undefined;
  });

  it('stops start-up on a bad flag, naming the flag and the expected form', async () => {
    const p = spawnCli(['start', '--queue', 'q', '--handler', 'h.mjs', '--prefetch', 'lots']);
    expect(await p.exited).toBe(2);
    expect(p.stderr.join('')).toMatch(/--prefetch \(env DEDUP_PREFETCH\) must be an integer from 1 to 65535; got "lots"/);
  });

  it('stops start-up on a bad env value the same way', async () => {
    const p = spawnCli(['start', '--queue', 'q', '--handler', 'h.mjs'], { DEDUP_LOCK_TTL: 'a while' });
    expect(await p.exited).toBe(2);
    expect(p.stderr.join('')).toMatch(/--lock-ttl \(env DEDUP_LOCK_TTL\) must be a duration/);
  });

  it('stops start-up when the handler has no default export', async () => {
    env = await testEnv('cli-broken');
    const p = spawnCli(['start', '--queue', env.queue, '--prefix', env.prefix, '--handler', BROKEN, '--threads', '1', '--admin', '127.0.0.1:0']);
    expect(await p.exited).toBe(2);
    expect(p.stderr.join('')).toMatch(/--handler .*broken-handler\.mjs cannot be loaded: .*no default export function/);
  });

  it('publishes JSON lines with confirms and the body id as messageId', async () => {
    env = await testEnv('cli-publish');
    const p = spawnCli(['publish', '--queue', env.queue]);
    p.child.stdin!.end('{"message_id":"a","data":1}\n\n{"message_id":"a","data":1}\n{"data":"no id"}\n');
    expect(await p.exited).toBe(0);
    expect(p.stderr.join('')).toMatch(/published 3 message\(s\)/);
    const got = await drain(env.ch, env.queue);
    expect(got.map((m) => m.properties.messageId).slice(0, 2)).toEqual(['a', 'a']);
    expect(got[2]!.properties.messageId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(got.every((m) => m.properties.deliveryMode === 2)).toBe(true);
  });
});
