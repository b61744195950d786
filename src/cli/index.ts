/**
 * cli: `dedup-pool <command>`. main.ts dispatches over the table of commands
 * (commands.ts): --help, --version, flag checks and did-you-mean, then the command's
 * own module (start, replica, status and scale, publish, dlq, id, layout, bench).
 *
 * May import: every other part.
 */
export { main, failure, usage, version } from './main.js';
