/** How `status` and `scale` reach a running pool's admin endpoint, and what they say when they cannot. */
import { OPTION_SPECS, checkOption, defaultText, type OptionSpec } from '../common/options.js';
import { optionFlag } from './pool-flags.js';
import { flagOrEnv } from './args.js';
import { CliFailure, EXIT, type FlagSpec, type ParsedArgs } from './types.js';

const ADMIN_SPEC = (OPTION_SPECS as readonly OptionSpec[]).find((s) => s.flag === 'admin')!;
const TIMEOUT_MS = 5000;

export const ADMIN_FLAG: FlagSpec = optionFlag(ADMIN_SPEC, { doc: 'admin endpoint of the running pool (as given to its start or replica)' });

export function adminAddress(args: ParsedArgs, env: NodeJS.ProcessEnv = process.env): string {
  return checkOption(ADMIN_SPEC, flagOrEnv(args, ADMIN_FLAG, env) ?? defaultText(ADMIN_SPEC)) as string;
}

/** A JSON call to the admin endpoint; a failure to reach it says which address, why, and what to do. */
export async function callAdmin<T>(address: string, path: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
  const url = `http://${address}${path}`;
  let res: Response;
  try {
    res = await fetch(url, { ...init, signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (err) {
    throw new CliFailure(unreachable(address, err), EXIT.FAILED);
  }
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) as T };
  } catch {
    throw new CliFailure(`${url} answered HTTP ${res.status} with something that is not a dedup-pool admin reply; is --admin pointing at the right port?`, EXIT.FAILED);
  }
}

export function unreachable(address: string, err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const code = cause?.code ?? (err as { name?: string }).name;
  const how = 'start one with `dedup-pool start` (or `dedup-pool replica --admin ...`), or point at a running one with --admin HOST:PORT or DEDUP_ADMIN (its "supervisor started" log line shows the address)';
  switch (code) {
    case 'ECONNREFUSED':
      return `no dedup-pool answers at ${address}: nothing listens there (connection refused); ${how}`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `no dedup-pool answers at ${address}: the host name does not resolve; check --admin`;
    case 'TimeoutError':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return `no answer from ${address} within ${TIMEOUT_MS / 1000}s: the host may be unreachable or a firewall drops the connection; check --admin`;
    default:
      return `cannot reach the admin endpoint at ${address}: ${cause?.message ?? (err as Error).message}; ${how}`;
  }
}
