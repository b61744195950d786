import { afterEach, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { drain, testEnv, type TestEnv } from './helpers/services.js';
import { spawnCli } from './helpers/processes.js';

const BROKEN = fileURLToPath(new URL('./fixtures/broken-handler.mjs', import.meta.url));
const SYNTAX = fileURLToPath(new URL('./fixtures/syntax-error-handler.mjs', import.meta.url));

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
    expect(p.logs.filter((l) => /replica/.test(String(l.msg)))).toEqual([]);
  });

  it('checks the handler before any replica starts: a missing file is named, no crash loop', async () => {
    env = await testEnv('cli-missing');
    const missing = `${BROKEN.replace(/broken-handler\.mjs$/, '')}no-such-handler.mjs`;
    const p = spawnCli(['start', '--queue', env.queue, '--prefix', env.prefix, '--handler', missing, '--admin', '127.0.0.1:0']);
    expect(await p.exited).toBe(2);
    expect(p.stderr.join('')).toContain(`--handler ${missing} cannot be loaded: ${missing} does not exist`);
    expect(p.logs.filter((l) => /replica/.test(String(l.msg)))).toEqual([]);
  });

  it('gives the file, line and column of a syntax error in the handler', async () => {
    env = await testEnv('cli-syntax');
    const p = spawnCli(['start', '--queue', env.queue, '--prefix', env.prefix, '--handler', SYNTAX, '--admin', '127.0.0.1:0']);
    expect(await p.exited).toBe(2);
    expect(p.stderr.join('')).toContain(`${SYNTAX}:4:26: SyntaxError: Unexpected token`);
    expect(p.logs.filter((l) => /replica/.test(String(l.msg)))).toEqual([]);
  });

  it('publishes JSON lines with confirms and the body id as messageId; --generate-ids prints the ids it made', async () => {
    env = await testEnv('cli-publish');
    const p = spawnCli(['publish', '--queue', env.queue, '--generate-ids']);
    p.child.stdin!.end('{"message_id":"a","data":1}\n\n{"message_id":"a","data":1}\n{"data":"no id"}\n');
    expect(await p.exited).toBe(0);
    expect(p.stderr.join('')).toMatch(/published 3 message\(s\)/);
    const got = await drain(env.ch, env.queue);
    expect(got.map((m) => m.properties.messageId).slice(0, 2)).toEqual(['a', 'a']);
    expect(got[2]!.properties.messageId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(p.logs).toEqual([{ raw: `4 ${got[2]!.properties.messageId}` }]);
    // The one change publish makes to a line: the generated id, added as its first field.
    expect(got[2]!.content.toString()).toBe(`{"message_id":"${got[2]!.properties.messageId}","data":"no id"}`);
    expect(got.every((m) => m.properties.deliveryMode === 2)).toBe(true);
  });

  it('sends each line\'s bytes unchanged, a numeric message_id as the id', async () => {
    env = await testEnv('cli-publish-bytes');
    const lines = ['{"message_id":"big","n":12345678901234567890,"price":1.10}', '{ "message_id" : 7 ,"amount":2.50e3, "s":"\\u00e9é"}'];
    const p = spawnCli(['publish', '--queue', env.queue]);
    p.child.stdin!.end(`${lines.join('\n')}\n`);
    expect(await p.exited).toBe(0);
    const got = await drain(env.ch, env.queue);
    expect(got.map((m) => m.content.toString('utf8'))).toEqual(lines);
    expect(got.map((m) => m.properties.messageId)).toEqual(['big', '7']);
    expect(got.map((m) => m.properties.contentType)).toEqual(['application/json', 'application/json']);
  });

  it('refuses a line without a message id, saying how many lines before it were published', async () => {
    env = await testEnv('cli-publish-noid');
    const p = spawnCli(['publish', '--queue', env.queue]);
    p.child.stdin!.end('{"message_id":"a"}\n{"message_id":"b"}\n{"message_id":"c"}\n{"data":"no id"}\n{"message_id":"d"}\n');
    expect(await p.exited).toBe(2);
    expect(p.stderr.join('')).toMatch(/line 4 has no message id \(no "message_id" field; set --id-field, or pass --generate-ids .*\); the 3 line\(s\) before it were published/);
    expect((await drain(env.ch, env.queue)).map((m) => m.properties.messageId)).toEqual(['a', 'b', 'c']);
  });

  it('names a line that is not JSON the same way', async () => {
    env = await testEnv('cli-publish-badjson');
    const p = spawnCli(['publish', '--queue', env.queue]);
    p.child.stdin!.end('{"message_id":"a"}\n{"message_id":"b"}\n{message_id: c}\n');
    expect(await p.exited).toBe(2);
    expect(p.stderr.join('')).toMatch(/line 3 is not JSON \(.*\); the 2 line\(s\) before it were published/);
    expect(await drain(env.ch, env.queue)).toHaveLength(2);
  });

  it('reads DEDUP_QUEUE like every other command, and many lines in confirm batches', async () => {
    env = await testEnv('cli-publish-env');
    const n = 3000;
    const p = spawnCli(['publish'], { DEDUP_QUEUE: env.queue });
    p.child.stdin!.end(Array.from({ length: n }, (_, i) => JSON.stringify({ message_id: `m-${i}` })).join('\n'));
    expect(await p.exited).toBe(0);
    expect(p.stderr.join('')).toMatch(new RegExp(`published ${n} message\\(s\\) to ${env.queue.replace(/\./g, '\\.')}`));
    const got = await drain(env.ch, env.queue);
    expect(got.map((m) => m.properties.messageId)).toEqual(Array.from({ length: n }, (_, i) => `m-${i}`));
  });
});
