/** An SVG per scenario: completed ids/s over time with chaos events marked, and duplicate executions per variant. */
import type { ScenarioResult } from './report.js';

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2'];
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

export function chart(res: ScenarioResult): string {
  const W = 920;
  const H = 520;
  const plot = { x: 70, y: 40, w: 560, h: 250 };
  const maxT = Math.max(1, ...res.variants.flatMap((v) => v.series.map(([t]) => t)));
  const maxY = Math.max(1, ...res.variants.flatMap((v) => v.series.map(([, y]) => y)));
  const sx = (t: number) => plot.x + (t / maxT) * plot.w;
  const sy = (y: number) => plot.y + plot.h - (y / maxY) * plot.h;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${plot.x}" y="22" font-size="15" font-weight="bold">${esc(res.scenario)}: completed ids/s over time</text>`,
    `<line x1="${plot.x}" y1="${plot.y + plot.h}" x2="${plot.x + plot.w}" y2="${plot.y + plot.h}" stroke="#333"/>`,
    `<line x1="${plot.x}" y1="${plot.y}" x2="${plot.x}" y2="${plot.y + plot.h}" stroke="#333"/>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const y = (maxY * i) / 4;
    out.push(`<text x="${plot.x - 6}" y="${sy(y) + 4}" text-anchor="end">${Math.round(y)}</text>`);
    out.push(`<line x1="${plot.x}" y1="${sy(y)}" x2="${plot.x + plot.w}" y2="${sy(y)}" stroke="#eee"/>`);
    const t = (maxT * i) / 4;
    out.push(`<text x="${sx(t)}" y="${plot.y + plot.h + 16}" text-anchor="middle">${(t / 1000).toFixed(1)} s</text>`);
  }
  res.variants.forEach((v, i) => {
    const color = COLORS[i % COLORS.length];
    const pts = v.series.map(([t, y]) => `${sx(t).toFixed(1)},${sy(y).toFixed(1)}`).join(' ');
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="1.8" points="${pts}"/>`);
    out.push(`<rect x="${plot.x + plot.w + 20}" y="${plot.y + i * 18}" width="12" height="12" fill="${color}"/>`);
    out.push(`<text x="${plot.x + plot.w + 38}" y="${plot.y + i * 18 + 10}">${esc(v.variant)}</text>`);
    for (const [t, label] of v.chaos) {
      out.push(`<line x1="${sx(t)}" y1="${plot.y}" x2="${sx(t)}" y2="${plot.y + plot.h}" stroke="${color}" stroke-dasharray="4,3" opacity="0.7"><title>${esc(label)}</title></line>`);
    }
  });
  if (res.variants.some((v) => v.chaos.length > 0)) {
    out.push(`<text x="${plot.x + plot.w + 20}" y="${plot.y + res.variants.length * 18 + 16}" fill="#555">dashed: chaos events</text>`);
  }
  // Duplicate executions per variant.
  const bars = { x: 70, y: 360, w: 800, h: 110 };
  const maxD = Math.max(1, ...res.variants.map((v) => v.duplicateExecutions));
  const bw = bars.w / res.variants.length;
  out.push(`<text x="${bars.x}" y="${bars.y - 26}" font-size="15" font-weight="bold">duplicate executions (handler ran again for an id)</text>`);
  res.variants.forEach((v, i) => {
    const h = (v.duplicateExecutions / maxD) * bars.h;
    const x = bars.x + i * bw + 10;
    out.push(`<rect x="${x}" y="${bars.y + bars.h - h}" width="${bw - 20}" height="${h}" fill="${COLORS[i % COLORS.length]}"/>`);
    const effects = v.duplicateEffects === null || v.duplicateEffects === undefined ? '' : ` (duplicate effects: ${v.duplicateEffects})`;
    out.push(`<text x="${x + (bw - 20) / 2}" y="${bars.y + bars.h - h - 4}" text-anchor="middle">${v.duplicateExecutions}${effects}</text>`);
    out.push(`<text x="${x + (bw - 20) / 2}" y="${bars.y + bars.h + 16}" text-anchor="middle" font-size="11">${esc(v.variant)}</text>`);
  });
  out.push(`<line x1="${bars.x}" y1="${bars.y + bars.h}" x2="${bars.x + bars.w}" y2="${bars.y + bars.h}" stroke="#333"/>`);
  out.push('</svg>');
  return out.join('\n');
}
