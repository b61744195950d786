/** Every `dedup-pool <command>`, in the order `dedup-pool help` lists them. Add a command here. */
import { bench } from './bench.js';
import { dlq } from './dlq.js';
import { id } from './id.js';
import { layout } from './layout.js';
import { publish } from './publish.js';
import { replica } from './replica.js';
import { start } from './start.js';
import { scale, status } from './status.js';
import type { Command } from './types.js';

export const COMMANDS: readonly Command[] = [start, replica, status, scale, publish, dlq, id, layout, bench];
