/**
 * A Redis that refuses the login (a wrong or missing password or user name) will
 * refuse it again on every try: start-up stops with the URL and the cause instead of
 * waiting for it as if it were unreachable.
 */
import { StoreLoginError } from '../common/errors.js';

/** What Redis answers to a refused AUTH, or to a command sent without one. */
const LOGIN_REFUSED = /WRONGPASS|NOAUTH|invalid password|invalid username-password/i;

/**
 * The error to stop start-up with when an instance refused the login, else undefined.
 * `errors` are the instances' last connection errors and `names` their URLs
 * (redacted), in the same order; `cluster` names --redis-cluster in the advice.
 */
export function loginRefusal(errors: readonly (string | undefined)[], names: readonly string[], cluster = false): StoreLoginError | undefined {
  const refused = errors.flatMap((e, i) => (e !== undefined && LOGIN_REFUSED.test(e) ? [`Redis at ${names[i] ?? `instance ${i}`} refused the login (${e.trim()})`] : []));
  if (refused.length === 0) return undefined;
  const [option, env] = cluster ? ['redis-cluster', 'DEDUP_REDIS_CLUSTER'] : ['redis', 'DEDUP_REDIS_URL'];
  return new StoreLoginError(option, `${refused.join('; ')}: check the user name and password in --${option} (env ${env}), in the form redis://[user]:password@host:port`);
}
