/** Replica processes started through the real CLI, with their JSON log lines parsed. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { waitFor } from './services.js';

const BIN = fileURLToPath(new URL('../../bin/dedup-pool.js', import.meta.url));

export interface ReplicaProcess {
  child: ChildProcess;
  logs: Record<string, unknown>[];
  /** stdout as it came, one entry per line. */
  lines: string[];
  stderr: string[];
  exited: Promise<number | null>;
  waitForLog(msg: string, timeoutMs?: number): Promise<Record<string, unknown>>;
}

export interface SpawnOptions {
  /** Command to run node under, e.g. ['ip', 'netns', 'exec', NS]. */
  wrap?: string[];
  /** Own process group, so the whole "host" can be stopped with one signal. */
  detached?: boolean;
}

export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}, opts: SpawnOptions = {}): ReplicaProcess {
  const [cmd, ...pre] = [...(opts.wrap ?? []), process.execPath];
  const child = spawn(cmd!, [...pre, BIN, ...args], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'], detached: opts.detached ?? false });
  const logs: Record<string, unknown>[] = [];
  const lines: string[] = [];
  const stderr: string[] = [];
  let buf = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buf += chunk.toString();
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      lines.push(line);
      try {
        logs.push(JSON.parse(line));
      } catch {
        logs.push({ raw: line });
      }
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    logs,
    lines,
    stderr,
    exited,
    async waitForLog(msg, timeoutMs = 30_000) {
      await waitFor(() => logs.some((l) => l.msg === msg), timeoutMs, `log "${msg}" (stderr: ${stderr.join('')})`);
      return logs.find((l) => l.msg === msg)!;
    },
  };
}

export function startArgs(opts: { queue: string; prefix: string; handler: string; extra?: string[] }): string[] {
  return ['replica', '--queue', opts.queue, '--prefix', opts.prefix, '--handler', opts.handler, ...(opts.extra ?? [])];
}
