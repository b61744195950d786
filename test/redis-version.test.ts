/**
 * Redis older than 7.0 refuses the scripts' flags at every call: a replica names the
 * server and its version at start-up instead. No Redis 6 runs here, so the refusal
 * is shown against a stand-in server that speaks just enough RESP (INFO, PING);
 * every integration test covers the path where the version is fine.
 */
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../src/common/errors.js';
import { Replica } from '../src/replica/replica.js';
import { redisVersionOf, versionAtLeast } from '../src/store/redis-version.js';
import { spawnCli } from './helpers/processes.js';
import { AMQP_URL, LEDGER_HANDLER } from './helpers/services.js';

describe('Redis version', () => {
  it('reads redis_version from INFO and compares versions part by part', () => {
    expect(redisVersionOf('# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:0\r\n')).toBe('7.0.15');
    expect(redisVersionOf('# Server\r\nredis_mode:standalone\r\n')).toBeUndefined();
    expect(versionAtLeast('7.0.0')).toBe(true);
    expect(versionAtLeast('7.2.4')).toBe(true);
    expect(versionAtLeast('10.0.0')).toBe(true);
    expect(versionAtLeast('6.2.14')).toBe(false);
    expect(versionAtLeast('6.9.99')).toBe(false);
    expect(versionAtLeast('7')).toBe(true);
  });

  describe('at start-up', () => {
    let server: Server | undefined;
    afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

    /** Answers INFO with `version`, everything else with +OK; QUIT closes. */
    async function oldRedis(version: string): Promise<number> {
      server = createServer((sock) => {
        let buf = '';
        sock.on('data', (chunk) => {
          buf += chunk.toString();
          // One RESP array per command: *N\r\n then N bulk strings.
          for (;;) {
            const m = /^\*(\d+)\r\n/.exec(buf);
            if (!m) return;
            let at = m[0].length;
            const parts: string[] = [];
            for (let i = 0; i < Number(m[1]); i++) {
              const len = /^\$(\d+)\r\n/.exec(buf.slice(at));
              if (!len || buf.length < at + len[0].length + Number(len[1]) + 2) return;
              parts.push(buf.slice(at + len[0].length, at + len[0].length + Number(len[1])));
              at += len[0].length + Number(len[1]) + 2;
            }
            buf = buf.slice(at);
            const info = `# Server\r\nredis_version:${version}\r\nredis_mode:standalone\r\n`;
            const cmd = parts[0]!.toUpperCase();
            sock.write(cmd === 'INFO' ? `$${info.length}\r\n${info}\r\n` : '+OK\r\n');
            if (cmd === 'QUIT') sock.end();
          }
        });
      });
      await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
      return (server.address() as { port: number }).port;
    }

    it('a Redis older than 7.0 stops start-up with its URL and version', async () => {
      const port = await oldRedis('6.2.14');
      const replica = new Replica({ amqpUrl: AMQP_URL, redisUrls: [`redis://:secret@127.0.0.1:${port}`], queue: `test.redis-version.${port}`, handler: LEDGER_HANDLER, threads: 1, logLevel: 'silent' });
      const err = await replica.start().then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).option).toBe('redis');
      expect((err as Error).message).toBe(
        `redis://:***@127.0.0.1:${port} runs Redis 6.2.14; dedup-pool needs Redis 7.0 or later (its scripts use Redis 7 script flags): upgrade it or point --redis at a newer server`,
      );
    });

    it('dedup-pool start exits 2 with that message at once, without restarting its replica', async () => {
      const port = await oldRedis('6.0.9');
      const queue = `test.redis-version.${port}`;
      const p = spawnCli(['start', '--queue', queue, '--handler', LEDGER_HANDLER, '--redis', `redis://127.0.0.1:${port}`, '--admin', '127.0.0.1:0', '--threads', '1']);
      expect(await p.exited).toBe(2);
      expect(p.stderr.join('')).toContain(`redis://127.0.0.1:${port} runs Redis 6.0.9; dedup-pool needs Redis 7.0 or later`);
      expect(p.logs.filter((l) => l.msg === 'replica died')).toHaveLength(1);
      expect(p.logs.some((l) => l.msg === 'restarting replica after backoff')).toBe(false);
    });
  });
});
