/**
 * `dedup-pool <command>`: finds the command in the table (src/cli/commands.ts),
 * answers --help and --version, checks the flags against the command's own, and
 * runs it. Returns the exit code; an error thrown here is printed by bin/.
 */
import { readFileSync } from 'node:fs';
import { COMMANDS } from './commands.js';
import { closest, parseArgsFor, renderHelp, wantsHelp } from './args.js';
import { CliFailure, EXIT, type Command } from './types.js';
import { ConfigError, errorMessage } from '../common/errors.js';
import { packageFile } from '../common/paths.js';
import { redactSecrets } from '../common/redact.js';

export function version(): string {
  return (JSON.parse(readFileSync(packageFile('package.json'), 'utf8')) as { version: string }).version;
}

export function usage(commands: readonly Command[] = COMMANDS): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return `dedup-pool ${version()}: a RabbitMQ worker pool that processes each message id once

Usage: dedup-pool <command> [flags]

Commands:
${commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

dedup-pool <command> --help    the command's flags, their env variables and defaults
dedup-pool --version

Exit codes: 0 success; 1 a runtime failure (status: not ready); 2 bad usage or configuration.
`;
}

/** Every flag name, with the commands that take it: "--replicas does not apply to replica". */
function flagOwners(commands: readonly Command[]): Map<string, string[]> {
  const owners = new Map<string, string[]>();
  for (const c of commands) for (const f of c.flags) owners.set(f.name, [...(owners.get(f.name) ?? []), c.name]);
  return owners;
}

export async function main(argv: string[], commands: readonly Command[] = COMMANDS): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    const topic = name === 'help' ? commands.find((c) => c.name === rest[0]) : undefined;
    process.stdout.write(topic ? await helpOf(topic) : usage(commands));
    return name === undefined ? EXIT.USAGE : EXIT.OK;
  }
  if (name === '--version' || name === '-v' || name === 'version') {
    process.stdout.write(`${version()}\n`);
    return EXIT.OK;
  }
  const cmd = commands.find((c) => c.name === name);
  if (!cmd) {
    const near = closest(name.replace(/^-+/, ''), commands.map((c) => c.name));
    const what = name.startsWith('-') ? `a command comes first; got the flag ${name}` : `unknown command "${name}"`;
    throw new ConfigError('command', `${what}${near ? `; did you mean ${near}?` : ''} (commands: ${commands.map((c) => c.name).join(', ')}; dedup-pool help)`);
  }
  if (wantsHelp(rest)) {
    process.stdout.write(await helpOf(cmd));
    return EXIT.OK;
  }
  const args = cmd.passThrough ? { flags: {}, positionals: rest } : parseArgsFor(cmd, rest, flagOwners(commands));
  return cmd.run(args);
}

async function helpOf(cmd: Command): Promise<string> {
  return cmd.help ? cmd.help() : renderHelp(cmd);
}

/** The message and exit code for an error that ended a command; credentials never printed. */
export function failure(err: unknown): { message: string; exitCode: number } {
  const exitCode = err instanceof CliFailure ? err.exitCode : err instanceof ConfigError ? EXIT.USAGE : EXIT.FAILED;
  return { message: redactSecrets(errorMessage(err)), exitCode };
}
