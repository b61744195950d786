const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "500ms", "30s", "1.5m", "24h", "7d" or a bare number of milliseconds; undefined when it is none of those. */
export function parseDuration(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!m) return undefined;
  return Number(m[1]) * UNITS[m[2] ?? 'ms']!;
}

/** Milliseconds as they would be typed: 86400000 -> "24h", 90000 -> "90s", 1500 -> "1.5s". */
export function formatDuration(ms: number): string {
  const exact = (['d', 'h', 'm', 's'] as const).find((u) => ms >= UNITS[u]! && ms % UNITS[u]! === 0);
  if (exact) return `${ms / UNITS[exact]!}${exact}`;
  return ms >= 1000 ? `${Math.round(ms / 100) / 10}s` : `${ms}ms`;
}
