/** The log lines as an operator reads them: the real CLI's output, parsed. */
import { afterEach, describe, expect, it } from 'vitest';
import { spawnCli, startArgs, type ReplicaProcess } from './helpers/processes.js';
import { LEDGER_HANDLER, body, publishRaw, testEnv, waitFor, type TestEnv } from './helpers/services.js';
import { startSupervisor } from './helpers/supervisor.js';

/** The keys of a JSON object's top level, in order, repeats included (JSON.parse would hide them). */
function topLevelKeys(json: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (c === '"') {
      let j = i + 1;
      while (json[j] !== '"') j += json[j] === '\\' ? 2 : 1;
      if (depth === 1 && json[j + 1] === ':') keys.push(json.slice(i + 1, j));
      i = j;
    } else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
  }
  return keys;
}

describe('logs', () => {
  let env: TestEnv;
  let proc: ReplicaProcess | undefined;
  afterEach(async () => {
    if (proc && proc.child.exitCode === null) {
      proc.child.kill('SIGTERM');
      await proc.exited;
    }
    proc = undefined;
    await env.cleanup();
  });

  it('JSON lines without repeated keys, and a periodic summary that sums every replica', async () => {
    env = await testEnv('summary');
    const sup = await startSupervisor({ queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER, extra: ['--replicas', '2', '--threads', '1', '--summary-interval', '300ms'] });
    proc = sup;
    const ids = Array.from({ length: 30 }, (_, i) => `sum-${i}`);
    await publishRaw(env.ch, env.queue, [...ids, ...ids.slice(0, 10)].map((id) => body(id, { ledger: env.ledger })));
    const summaries = () => sup.logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('last 300ms: '));
    const total = (k: 'processed' | 'duplicates') => summaries().reduce((n, l) => n + (l.summary as Record<string, number>)[k]!, 0);
    await waitFor(() => total('processed') === 30 && total('duplicates') === 10, 20_000, 'summaries adding up to the run');
    expect(summaries().every((l) => l.role === 'supervisor' && l.level === 30)).toBe(true);
    expect(summaries().at(-1)!.msg).toMatch(/^last 300ms: \d+ processed \([\d.]+\/s\), \d+ duplicates, 0 dead-lettered, 0 retried; \d+ in flight$/);

    sup.child.kill('SIGTERM');
    await sup.exited;
    const lines = sup.lines.filter((l) => l.startsWith('{'));
    expect(lines.length).toBeGreaterThan(5);
    expect(lines.some((l) => l.includes('"replica ready"'))).toBe(true);
    for (const line of lines) {
      const keys = topLevelKeys(line);
      expect(keys, line).toEqual([...new Set(keys)]);
    }
  });

  it('--log-format pretty: readable lines, no JSON', async () => {
    env = await testEnv('pretty');
    proc = spawnCli(startArgs({ queue: env.queue, prefix: env.prefix, handler: LEDGER_HANDLER, extra: ['--threads', '1', '--log-format', 'pretty'] }));
    const started = () => proc!.lines.find((l) => l.includes('replica started'));
    await waitFor(() => started() !== undefined, 20_000, 'the start line');
    expect(started()).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO \(\d+\): replica started$/);
    // Its fields follow, one per line, indented.
    expect(proc.lines).toContainEqual(expect.stringMatching(/^ {4}prefix: "/));
    expect(proc.lines.filter((l) => l.startsWith('{'))).toEqual([]);
  });
});
