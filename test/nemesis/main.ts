/**
 * The long nemesis run from the command line (what `npm run bench -- --scenario nemesis`
 * starts, under tsx): more pools, faults and ids than the test, the fault timeline as it
 * happens, then the outcome table. Exit code 1 if the checker found a problem.
 *
 *   node --import tsx test/nemesis/main.ts [--seeds 1,2] [--modes plain,redis-atomic]
 *     [--pools 3] [--replicas 2] [--faults 20] [--ids 2000] [--lock-ttl-ms 2000] [--out DIR]
 *   NEMESIS_SEED=1,2 sets --seeds.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runNemesis, type RunResult } from './harness.js';
import { details, outcomeTable, timeline } from './report.js';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string' },
    modes: { type: 'string', default: 'plain,redis-atomic' },
    pools: { type: 'string', default: '3' },
    replicas: { type: 'string', default: '2' },
    faults: { type: 'string', default: '20' },
    ids: { type: 'string', default: '2000' },
    'lock-ttl-ms': { type: 'string', default: '2000' },
    'sleep-ms': { type: 'string', default: '100' },
    out: { type: 'string' },
  },
});
const seeds = (values.seeds ?? process.env.NEMESIS_SEED ?? String(Date.now() % 1_000_000)).split(',').map(Number);
const modes = values.modes!.split(',') as RunResult['options']['mode'][];
for (const m of modes) if (m !== 'plain' && m !== 'redis-atomic') throw new Error(`--modes: ${m} is not plain or redis-atomic`);
const num = (k: keyof typeof values) => {
  const n = Number(values[k]);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${k} must be a whole number of 1 or more`);
  return n;
};

const results: RunResult[] = [];
for (const seed of seeds) {
  for (const mode of modes) {
    process.stdout.write(`\nnemesis seed ${seed}, ${mode}: ${values.pools} pools x ${values.replicas} replicas, ${values.faults} faults, ${values.ids} ids + 20% copies\n`);
    const r = await runNemesis({
      seed,
      mode,
      pools: num('pools'),
      replicas: num('replicas'),
      faults: num('faults'),
      ids: num('ids'),
      lockTtlMs: num('lock-ttl-ms'),
      sleepMs: num('sleep-ms'),
      ...(values.out && { keep: values.out }),
      log: (line) => process.stdout.write(`  ${line}\n`),
    });
    results.push(r);
    process.stdout.write(`${timeline(r)}\n${details(r)}\n`);
  }
}
process.stdout.write(`\nnemesis outcome (replay a row with NEMESIS_SEED=<seed>):\n${outcomeTable(results)}\n`);
if (values.out) {
  mkdirSync(values.out, { recursive: true });
  const file = join(values.out, `nemesis-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  const plain = results.map((r) => ({ ...r, outcome: { ...r.outcome, probe: Object.fromEntries(r.outcome.probe) } }));
  writeFileSync(file, JSON.stringify(plain, null, 2));
  process.stdout.write(`wrote ${file}\n`);
}
process.exitCode = results.some((r) => r.outcome.problems.length > 0) ? 1 : 0;
