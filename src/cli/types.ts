/**
 * The shape of one `dedup-pool <command>`: src/cli/main.ts dispatches over a table of
 * these. A new command is a module exporting one Command and a line in
 * src/cli/commands.ts; its flags are parsed and checked (unknown flags, flags of
 * other commands, missing values, --help) before run() is called.
 */

export interface FlagSpec {
  /** Long name without dashes: `threads` for --threads. */
  name: string;
  /** A string flag takes a value (`--queue Q`, `--queue=Q`); a boolean does not (`--json`). */
  type: 'string' | 'boolean';
  /** Placeholder of the value in help: `Q`, `HOST:PORT`. */
  value?: string;
  doc: string;
  /** Environment variable read when the flag is absent. */
  env?: string;
  /** The default as a user would type it: `24h`, `1mb`, `127.0.0.1:9464`. */
  default?: string;
  /** Must be given (as the flag or its env variable). */
  required?: boolean;
}

export interface ParsedArgs {
  /** Flags given on the command line (strings, or true for booleans); env is not applied here. */
  flags: Record<string, string | true>;
  positionals: string[];
}

export interface Command {
  name: string;
  /** One line in `dedup-pool help`. */
  summary: string;
  /** Usage line(s) without the leading "dedup-pool ". */
  usage: string;
  /** Prose after the usage line: what the command does, exit codes, examples. */
  about?: string;
  flags: readonly FlagSpec[];
  /** Most positional arguments accepted. Default 0. */
  positionals?: number;
  /** Flags parsed by the command itself (bench hands its arguments to bench/run.ts). */
  passThrough?: boolean;
  /** The full help text; default: rendered from usage, about and flags. */
  help?(): string | Promise<string>;
  run(args: ParsedArgs): Promise<number>;
}

/** A failure that is not a configuration error, with the exit code the process should end with. */
export class CliFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'CliFailure';
  }
}

/** Exit codes, as the README documents them. */
export const EXIT = {
  OK: 0,
  /** A runtime failure: status not ready, no supervisor answers, a publish that failed, the pool stopped on an error. */
  FAILED: 1,
  /** Bad usage or configuration: a flag, a value, a handler that does not load, a crash loop at start-up. */
  USAGE: 2,
} as const;
