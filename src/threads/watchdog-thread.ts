/**
 * Starts a replica's watchdog thread (workers/watchdog.ts) over its lease board: it ends
 * the process when a handler runs on past its lease's hard stop and the main thread cannot
 * stop it. A thread of its own because the main thread is what may be blocked.
 */
import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { WatchdogData } from '../../workers/watchdog.js';
import { errorMessage } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { builtFile } from '../common/paths.js';
import type { LeaseBoard } from './lease-board.js';

export interface Watchdog {
  stop(): Promise<void>;
}

export function startWatchdog(board: LeaseBoard, tickMs: number, log: Logger): Watchdog {
  const file = builtFile('workers/watchdog.js');
  if (!existsSync(file)) throw new Error(`worker file ${file} is missing: run "npm run build"`);
  const workerData: WatchdogData = { board: board.buffer, tickMs, logLevel: log.level };
  const worker = new Worker(file, { workerData });
  // It never keeps the process alive; it only ever ends it.
  worker.unref();
  worker.on('error', (err) => log.error({ err: errorMessage(err) }, 'the watchdog thread failed: handlers on a blocked main thread are no longer stopped at their lease'));
  return {
    async stop() {
      await worker.terminate();
    },
  };
}
