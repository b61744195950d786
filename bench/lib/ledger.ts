/** Reads the handlers' ledger as it grows: executions per id and completions over time. */
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';

export class LedgerWatcher {
  readonly counts = new Map<string, number>();
  /** [epoch ms, distinct ids executed so far] samples. */
  readonly series: [number, number][] = [];
  firstAt = 0;
  lastAt = 0;
  executions = 0;
  private offset = 0;
  private rest = '';

  constructor(private readonly path: string) {}

  poll(): void {
    if (!existsSync(this.path)) return;
    const size = statSync(this.path).size;
    if (size > this.offset) {
      const buf = Buffer.alloc(size - this.offset);
      const fd = openSync(this.path, 'r');
      readSync(fd, buf, 0, buf.length, this.offset);
      closeSync(fd);
      this.offset = size;
      const lines = (this.rest + buf.toString()).split('\n');
      this.rest = lines.pop() ?? '';
      for (const line of lines) {
        const [id, t] = line.split(' ');
        if (!id) continue;
        this.counts.set(id, (this.counts.get(id) ?? 0) + 1);
        this.executions += 1;
        const at = Number(t);
        if (!this.firstAt || at < this.firstAt) this.firstAt = at;
        if (at > this.lastAt) this.lastAt = at;
      }
    }
    this.series.push([Date.now(), this.counts.size]);
  }

  get uniqueExecuted(): number {
    return this.counts.size;
  }

  get duplicateExecutions(): number {
    let n = 0;
    for (const c of this.counts.values()) if (c > 1) n += c - 1;
    return n;
  }

  /** The samples as [ms since `start`, ids per second over the last `overMs` (about a second of polls)]. */
  rates(start: number, overMs = 1000): [number, number][] {
    let j = 0;
    return this.series.map(([t, n]) => {
      while (this.series[j]![0] < t - overMs) j++;
      const [t0, n0] = this.series[j]!;
      return [t - start, t > t0 ? ((n - n0) * 1000) / (t - t0) : 0];
    });
  }
}
