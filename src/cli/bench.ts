/**
 * `dedup-pool bench`: runs bench/run.ts, which parses its own flags (BENCH_FLAGS);
 * they are declared there and shown here, so the two cannot drift apart.
 */
import type { Command, FlagSpec } from './types.js';
import { parseArgsFor, renderHelp } from './args.js';

interface BenchModule {
  main(args: string[]): Promise<number>;
  BENCH_FLAGS: Record<string, { type: 'string' | 'boolean'; value?: string; doc: string; default?: string }>;
}
interface ScenarioModule {
  SCENARIOS: { name: string; about: string; quick?: boolean }[];
}

const load = async (): Promise<[BenchModule, ScenarioModule]> =>
  Promise.all([import('../../bench/run.js') as Promise<BenchModule>, import('../../bench/scenarios/index.js') as Promise<ScenarioModule>]);

export const bench: Command = {
  name: 'bench',
  summary: 'throughput and duplicate counts of dedup-pool against raw amqplib and the naive design, in one run',
  usage: 'bench [--scenario a,b | --all | --list] [--scale F]',
  flags: [],
  passThrough: true,
  async help() {
    const [{ BENCH_FLAGS }, { SCENARIOS }] = await load();
    const flags = flagsOf(BENCH_FLAGS);
    const width = Math.max(...SCENARIOS.map((s) => s.name.length));
    const about = `Each scenario publishes the same messages to every variant (raw amqplib, the naive
EXISTS-then-SET design, dedup-pool), one after another against RabbitMQ and Redis
(--amqp, --redis: the local ones by default), and prints a table of ids/s, duplicate executions and losses, with ratios
against the raw baseline of the same run. Without flags it runs the [quick] set.

Scenarios:
${SCENARIOS.map((s) => `  ${s.name.padEnd(width)}  ${s.quick ? '[quick] ' : ''}${s.about}`).join('\n')}

Exit codes: 0 done; 1 a run failed; 2 a bad flag.`;
    return renderHelp({ ...this, flags, about });
  },
  async run(args) {
    const [mod] = await load();
    // Checked here first for the same errors as every command (did you mean ...?); bench/run.ts parses them again.
    parseArgsFor({ ...this, flags: flagsOf(mod.BENCH_FLAGS) }, args.positionals);
    return mod.main(args.positionals);
  },
};

function flagsOf(table: BenchModule['BENCH_FLAGS']): FlagSpec[] {
  return Object.entries(table).map(([name, f]) => ({ name, ...f }));
}
