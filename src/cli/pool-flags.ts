/** The pool's options (src/common/options.ts) as command flags, and back into options. */
import { OPTION_SPECS, defaultText, optionsFromFlags, type OptionSpec, type OptionsInput } from '../common/options.js';
import type { FlagSpec, ParsedArgs } from './types.js';

const PLACEHOLDER: Record<string, string> = {
  queue: 'Q', handler: 'PATH', amqp: 'URL', redis: 'URL[,URL...]', inbox: 'URL', admin: 'HOST:PORT', 'admin-token': 'TOKEN',
  'tls-ca': 'FILE', 'tls-cert': 'FILE', 'tls-key': 'FILE', 'id-from': 'LIST', prefix: 'P', 'id-field': 'FIELD', 'log-level': 'LEVEL',
};

/** `--threads N`, `--lock-ttl DURATION`, `--queue-type classic|quorum`: the value's form at a glance. */
function placeholder(s: OptionSpec): string {
  const form = s.kind.form;
  if (PLACEHOLDER[s.flag]) return PLACEHOLDER[s.flag]!;
  if (form.startsWith('one of ')) return form.slice(7).split(', ').join('|');
  if (form.startsWith('a duration')) return 'DURATION';
  if (form.startsWith('a size')) return 'SIZE';
  if (form.startsWith('an integer')) return 'N';
  return 'VALUE';
}

export function optionFlag(s: OptionSpec, overrides: Partial<FlagSpec> = {}): FlagSpec {
  const shown = defaultText(s);
  return {
    name: s.flag,
    type: 'string',
    value: placeholder(s),
    doc: s.doc,
    env: s.env,
    ...(shown !== undefined ? { default: shown } : s.optional ? {} : { required: true }),
    ...overrides,
  };
}

/** Every pool option as a flag, except `skip`; `overrides` change a flag's doc or default for one command. */
export function poolFlags(skip: readonly string[] = [], overrides: Record<string, Partial<FlagSpec>> = {}): FlagSpec[] {
  return (OPTION_SPECS as readonly OptionSpec[]).filter((s) => !skip.includes(s.flag)).map((s) => optionFlag(s, overrides[s.flag]));
}

/** Options from the parsed flags, with env as fallback (validated later by resolveOptions). */
export function poolInput(args: ParsedArgs): OptionsInput {
  const strings = Object.fromEntries(Object.entries(args.flags).filter((e): e is [string, string] => typeof e[1] === 'string'));
  return optionsFromFlags(strings);
}
