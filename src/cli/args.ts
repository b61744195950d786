/**
 * Parsing a command's arguments against its flag table, with the errors a new
 * user needs: "did you mean --threads?", "--replicas does not apply to replica".
 * Pure functions; help rendering lives here too since it reads the same table.
 */
import { ConfigError } from '../common/errors.js';
import type { Command, FlagSpec, ParsedArgs } from './types.js';

/** `--help` / `-h` anywhere in the arguments. */
export function wantsHelp(args: readonly string[]): boolean {
  return args.some((a) => a === '--help' || a === '-h');
}

/**
 * Split args into flags and positionals. `others` names every flag of every
 * command, so a flag that exists but not here is reported as such.
 */
export function parseArgsFor(cmd: Command, args: readonly string[], others: ReadonlyMap<string, string[]> = new Map()): ParsedArgs {
  const byName = new Map(cmd.flags.map((f) => [f.name, f]));
  const flags: Record<string, string | true> = {};
  const positionals: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-' || /^-\d/.test(arg)) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.replace(/^--?/, '').slice(0, eq < 0 ? undefined : eq - (arg.startsWith('--') ? 2 : 1));
    const spec = byName.get(name);
    if (!spec) throw unknownFlag(cmd, name, others);
    if (spec.type === 'boolean') {
      if (eq >= 0) throw new ConfigError(name, `--${name} takes no value (dedup-pool ${cmd.name})`);
      flags[name] = true;
      continue;
    }
    let value: string | undefined;
    if (eq >= 0) value = arg.slice(eq + 1);
    else if (i + 1 < args.length && !args[i + 1]!.startsWith('--')) value = args[++i];
    if (value === undefined) throw new ConfigError(name, `--${name} needs a value${spec.value ? ` (--${name} ${spec.value})` : ''}`);
    flags[name] = value;
  }
  const most = cmd.positionals ?? 0;
  if (positionals.length > most) {
    throw new ConfigError('arguments', `dedup-pool ${cmd.name} ${most === 0 ? 'takes no arguments' : `takes at most ${most} argument(s)`}; got ${positionals.map((p) => JSON.stringify(p)).join(' ')}\nUsage: dedup-pool ${cmd.usage}`);
  }
  return { flags, positionals };
}

function unknownFlag(cmd: Command, name: string, others: ReadonlyMap<string, string[]>): ConfigError {
  const elsewhere = others.get(name)?.filter((c) => c !== cmd.name);
  if (elsewhere?.length) {
    return new ConfigError(name, `--${name} does not apply to dedup-pool ${cmd.name} (it is a flag of ${elsewhere.join(', ')}); dedup-pool ${cmd.name} --help lists its flags`);
  }
  const near = closest(name, cmd.flags.map((f) => f.name));
  return new ConfigError(name, `unknown flag --${name} for dedup-pool ${cmd.name}${near ? `; did you mean --${near}?` : ''} (dedup-pool ${cmd.name} --help lists its flags)`);
}

/** The candidate nearest to `word` by edit distance, if it is near enough to be a typo. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  const allowed = Math.max(1, Math.min(3, Math.floor(word.length / 3)));
  return bestDistance <= allowed ? best : undefined;
}

/** Levenshtein distance, with a swap of two neighbours counted as one edit (Damerau). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** A flag's value from the command line, else from its env variable. */
export function flagOrEnv(args: ParsedArgs, flag: FlagSpec | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (!flag) return undefined;
  const v = args.flags[flag.name];
  if (typeof v === 'string') return v;
  return flag.env ? env[flag.env] : undefined;
}

/** `Usage:`, the prose, then one line per flag with its env variable and default as typed. */
export function renderHelp(cmd: Command): string {
  const left = (f: FlagSpec): string => `--${f.name}${f.type === 'string' ? ` ${f.value ?? 'VALUE'}` : ''}`;
  const width = Math.min(30, Math.max(...cmd.flags.map((f) => left(f).length), 10));
  const lines = cmd.flags.map((f) => {
    const extra = [f.env && `env ${f.env}`, f.required && 'required', f.default !== undefined && `default ${f.default}`].filter(Boolean).join(', ');
    const l = left(f);
    const pad = l.length > width ? `\n  ${' '.repeat(width)}` : ' '.repeat(width - l.length);
    return `  ${l}${pad}  ${f.doc}${extra ? ` (${extra})` : ''}`;
  });
  return [
    `Usage: dedup-pool ${cmd.usage}`,
    '',
    ...(cmd.about ? [cmd.about.trimEnd(), ''] : []),
    ...(lines.length ? ['Flags:', ...lines, ''] : []),
    `  ${'--help'.padEnd(width)}  this text`,
    '',
  ].join('\n');
}
