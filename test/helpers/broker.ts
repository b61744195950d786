/** Broker-side faults through rabbitmqctl: close the connections a process opened. */
import { execFileSync } from 'node:child_process';

function rabbitmqctl(...args: string[]): string {
  return execFileSync('rabbitmqctl', [...args, '-q'], { stdio: 'pipe' }).toString();
}

/** Close every connection whose connection_name contains `nameFragment`; returns how many. */
export function closeConnections(nameFragment: string, reason = 'closed by test'): number {
  const lines = rabbitmqctl('list_connections', 'pid', 'client_properties').split('\n');
  let closed = 0;
  for (const line of lines) {
    const pid = /^(<[^>]+>)/.exec(line)?.[1];
    if (pid && line.includes(nameFragment)) {
      rabbitmqctl('close_connection', pid, reason);
      closed++;
    }
  }
  return closed;
}
