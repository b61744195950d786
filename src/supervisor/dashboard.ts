/**
 * The live dashboard's routes on the admin endpoint: GET / serves the page
 * (src/supervisor/dashboard.html, one self-contained file), GET /history the counters
 * sampled every second over the last ten minutes (the page's chart). The page
 * reads everything else from /status and scales through POST /scale.
 */
import { readFileSync } from 'node:fs';
import { json, type AdminSource, type Route } from './admin.js';
import { CounterHistory, HISTORY_CAPACITY } from './history.js';
import { packageFile } from '../common/paths.js';

/** The page may run its own inline script and talk to this endpoint only; no other site may frame it. */
const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'cache-control': 'no-store',
};

export function dashboardRoutes(source: AdminSource): Route[] {
  const page = readFileSync(packageFile('src/supervisor/dashboard.html'));
  const history = new CounterHistory(() => source.status());
  return [
    {
      method: 'GET',
      path: '/',
      handle: ({ res }) => {
        res.writeHead(200, PAGE_HEADERS);
        res.end(page);
      },
    },
    {
      method: 'GET',
      path: '/history',
      handle: ({ req, res }) => {
        const since = Number(new URL(req.url ?? '/', 'http://admin').searchParams.get('since')) || 0;
        json(res, 200, { capacity: HISTORY_CAPACITY, points: history.since(since) });
      },
    },
  ];
}
