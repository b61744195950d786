/// <reference lib="dom" />
/**
 * The dashboard at GET / of the admin endpoint, in a real headless Chromium
 * (Debian's package, installed by scripts/chromium.sh when missing).
 */
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { StatusReply } from '../src/supervisor/admin.js';
import { LEDGER_HANDLER, body, publishRaw, testEnv, type TestEnv } from './helpers/services.js';
import { startSupervisor, type SupervisorProcess } from './helpers/supervisor.js';

const TOKEN = 'sekrit-dashboard-token';
/** `UPDATE_SCREENSHOT=1 npx vitest run test/web-dashboard.int.test.ts` refreshes the picture in docs/operating.md. */
const SCREENSHOT = process.env.UPDATE_SCREENSHOT ? new URL('../docs/dashboard.png', import.meta.url).pathname : join(tmpdir(), 'dedup-pool-dashboard.png');

describe('web dashboard', () => {
  let browser: Browser;
  let env: TestEnv | undefined;
  let sup: SupervisorProcess | undefined;

  beforeAll(async () => {
    execFileSync('bash', [new URL('../scripts/chromium.sh', import.meta.url).pathname], { stdio: 'inherit' });
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  }, 300_000);
  afterAll(async () => browser?.close());
  afterEach(async () => {
    if (sup && sup.child.exitCode === null) {
      sup.child.kill('SIGTERM');
      await sup.exited;
    }
    sup = undefined;
    await env?.cleanup();
    env = undefined;
  });

  const num = async (page: Page, id: string): Promise<number> => Number((await page.textContent(`#${id}`))!.replace(/,/g, ''));

  it('shows the real counts of a run, draws the throughput chart, and scales only with the token', async () => {
    env = await testEnv('web');
    const e = env;
    sup = await startSupervisor({
      queue: e.queue,
      prefix: e.prefix,
      handler: LEDGER_HANDLER,
      extra: ['--replicas', '2', '--threads', '1', '--max-attempts', '2', '--retry-delay', '10ms', '--admin-token', TOKEN],
    });
    const s = sup;

    // A run spread over a few seconds, so the chart has a shape: 300 ids, 100 copies, 3 that always fail, 2 malformed.
    for (let round = 0; round < 6; round++) {
      const ids = Array.from({ length: 50 }, (_, i) => `w-${round}-${i}`);
      const copies = ids.slice(0, round < 4 ? 25 : 0);
      await publishRaw(e.ch, e.queue, [...ids, ...copies].map((id) => body(id, { ledger: e.ledger })));
      await new Promise((r) => setTimeout(r, 700));
    }
    await publishRaw(e.ch, e.queue, [
      ...['bad-0', 'bad-1', 'bad-2'].map((id) => body(id, { ledger: e.ledger, alwaysFail: true })),
      { content: "{'message_id': 'py'}" },
      { content: JSON.stringify({ data: 'no id' }) },
    ]);
    const final = await s.waitForStatus(
      (st) => st.totals.completed === 300 && st.totals.inFlight === 0 && Object.values(st.totals.deadLettered).reduce((a, b) => a + b, 0) === 5 && (st as StatusReply).queues?.dlq === 5,
      'the run settled and the depths were read',
    );

    const html = await (await fetch(`http://${s.admin}/`)).text();
    expect(html.length).toBeLessThan(24_000); // one small file: no scripts or styles from elsewhere
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=/);
    const page = await browser.newPage({ viewport: { width: 1280, height: 770 } });
    const navigated = Date.now();
    await page.goto(`http://${s.admin}/`);
    await page.waitForFunction(() => document.getElementById('completed')!.textContent === '300', undefined, { timeout: 10_000 });
    console.log(`dashboard: the run's counts on the page ${((Date.now() - navigated) / 1000).toFixed(2)} s after navigation`);

    // The page's numbers are /status's and /metrics' numbers.
    const t = final.totals;
    const metrics = await s.metrics();
    expect(await num(page, 'completed')).toBe(t.completed);
    expect(await num(page, 'completed')).toBe(metrics.get('dedup_completed_total'));
    expect(await num(page, 'duplicates')).toBe(t.duplicates.done + t.duplicates['in-flight'] + t.duplicates.inbox);
    expect(await num(page, 'duplicates')).toBe(100);
    expect(await num(page, 'dup-done')).toBe(metrics.get('dedup_duplicates_total{reason="done"}'));
    expect(await num(page, 'retried')).toBe(t.retried);
    expect(t.retried).toBe(3);
    expect(await num(page, 'retried')).toBe(metrics.get('dedup_retries_total'));
    expect(await num(page, 'dead-lettered')).toBe(5);
    expect(await num(page, 'depth-dlq')).toBe(5);
    expect(await num(page, 'depth-dlq')).toBe(metrics.get('dedup_dead_letter_depth'));
    expect(await num(page, 'depth-queue')).toBe(0);
    const reasons = await page.$$eval('#dead-letter-reasons li', (lis) => lis.map((li) => li.textContent));
    expect(reasons).toEqual(['HANDLER_FAILED: 3', 'NO_ID: 1', 'NOT_JSON: 1']);
    expect(metrics.get('dedup_dead_lettered_total{reason="HANDLER_FAILED"}')).toBe(3);
    const rows = await page.$$eval('#replicas tr', (trs) => trs.map((tr) => Array.from(tr.children).map((td) => td.textContent)));
    expect(rows.map((r) => Number(r[1])).sort()).toEqual(final.slots.map((x) => x.pid).sort());
    expect(rows.map((r) => r[2])).toEqual(['ready', 'ready']);

    // The chart draws the run: the completed line has points, and they rise and fall.
    const d = await page.getAttribute('path[data-series="completed"]', 'd');
    const ys = [...d!.matchAll(/[ML][\d.]+,([\d.]+)/g)].map((m) => Number(m[1]));
    expect(ys.length).toBeGreaterThanOrEqual(5);
    expect(Math.max(...ys) - Math.min(...ys)).toBeGreaterThan(50);
    await page.screenshot({ path: SCREENSHOT });

    // Scaling without the token is refused and says why; with it, the pool scales.
    await page.fill('#scale-replicas', '3');
    await page.click('#scale-apply');
    await page.waitForFunction(() => /admin token/.test(document.getElementById('scale-result')!.textContent!));
    expect((await s.status()).replicas).toBe(2);
    await page.fill('#scale-token', TOKEN);
    await page.click('#scale-apply');
    await page.waitForFunction(() => /Scaling to 3 replica/.test(document.getElementById('scale-result')!.textContent!));
    await s.waitForStatus((st) => st.slots.filter((x) => x.state === 'ready').length === 3, '3 replicas ready');
    await page.waitForFunction(() => document.querySelectorAll('#replicas tr').length === 3);

    // The token is never on the page, not even in its field.
    expect(await page.inputValue('#scale-token')).toBe('');
    expect(await page.content()).not.toContain(TOKEN);
    expect(await page.evaluate(() => document.body.innerText)).not.toContain(TOKEN);

    // Another site's page cannot post to /scale through the operator's browser.
    const forged = await fetch(`http://${s.admin}/scale`, { method: 'POST', headers: { origin: 'http://evil.example', 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, body: '{"replicas":1}' });
    expect(forged.status).toBe(403);
    await page.close();
  });
});
