/**
 * The admin HTTP endpoint, for a supervisor or a lone replica (`replica --admin`):
 * /healthz /readyz /metrics /status, and POST /scale where the source can scale.
 * Routes are a table: a new page is one more entry (see adminRoutes()).
 * Binds to loopback unless told otherwise; with a token set, mutations need
 * `Authorization: Bearer <token>`, and a browser on another origin may not mutate.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { ConfigError } from '../common/errors.js';
import { createMetrics } from './metrics.js';
import type { Depths } from '../amqp/queue-depth.js';
import { RateWindow, type Rates } from './rates.js';
import type { SupervisorStatus } from './supervisor.js';

/** What the endpoint reports on: a Supervisor, or a lone replica seen as a pool of one. */
export interface AdminSource {
  role: 'supervisor' | 'replica';
  status(): SupervisorStatus;
  /** Absent where there is nothing to scale (a lone replica): no /scale route then. */
  scale?(change: { replicas?: number; threads?: number }): SupervisorStatus;
  /** Depths of the work, dead-letter and retry queues. */
  queueDepths?(): Promise<Depths>;
}

/** GET /status: the status, with rates over the last minute and the queues' depths. */
export type StatusReply = SupervisorStatus & { rates?: Rates; queues?: Depths };

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  source: AdminSource;
  /** The full /status reply (rates and queue depths included). */
  statusReply(): Promise<StatusReply>;
}

export interface Route {
  method: 'GET' | 'POST';
  path: string;
  /** Needs the bearer token when one is set. */
  mutates?: boolean;
  handle(ctx: RouteContext): void | Promise<void>;
}

export interface AdminServer {
  server: Server;
  /** "host:port" actually bound (port 0 resolved). */
  address: string;
  close(): Promise<void>;
}

export interface AdminOptions {
  /** `host:port` to bind. */
  listen: string;
  token?: string;
  /** Routes served before the standard ones (a dashboard, say). */
  routes?: Route[];
}

const MAX_BODY = 4096;
const SAMPLE_EVERY_MS = 1000;

/** The standard routes; /scale only where the source can scale. */
export function adminRoutes(source: AdminSource): Route[] {
  const metrics = createMetrics(() => source.status(), `dedup_${source.role}_`, source.queueDepths && (() => source.queueDepths!()));
  const routes: Route[] = [
    { method: 'GET', path: '/healthz', handle: ({ res }) => text(res, 200, 'ok\n') },
    {
      method: 'GET',
      path: '/readyz',
      handle: ({ res }) => {
        const { ready, totals } = source.status();
        const overdue = totals.overdue > 0 ? ` (${totals.overdue} handler(s) overdue, past --overdue-after)` : '';
        text(res, ready ? 200 : 503, `${ready ? 'ready' : 'not ready'}${overdue}\n`);
      },
    },
    { method: 'GET', path: '/status', handle: async ({ res, statusReply }) => json(res, 200, await statusReply()) },
    {
      method: 'GET',
      path: '/metrics',
      handle: async ({ res }) => {
        res.writeHead(200, { 'content-type': metrics.contentType });
        res.end(await metrics.metrics());
      },
    },
  ];
  if (source.scale) {
    const scale = source.scale.bind(source);
    routes.push({
      method: 'POST',
      path: '/scale',
      mutates: true,
      handle: async ({ req, res }) => {
        const change = parseScale(await readJson(req));
        if (typeof change === 'string') return json(res, 400, { error: change });
        json(res, 200, scale(change));
      },
    });
  }
  return routes;
}

export async function startAdmin(source: AdminSource, opts: AdminOptions): Promise<AdminServer> {
  const routes = [...(opts.routes ?? []), ...adminRoutes(source)];
  const rates = new RateWindow();
  const sample = (): void => rates.sample(source.status().totals);
  sample();
  const sampler = setInterval(sample, SAMPLE_EVERY_MS).unref();
  const statusReply = async (): Promise<StatusReply> => {
    sample();
    const queues = await source.queueDepths?.();
    return { ...source.status(), ...(rates.rates() && { rates: rates.rates() }), ...(queues && { queues }) };
  };

  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://admin').pathname;
    const route = routes.find((r) => r.method === req.method && r.path === path);
    if (!route) return json(res, 404, { error: `no route ${req.method} ${path}` });
    if (route.mutates && !sameOrigin(req)) return json(res, 403, { error: 'cross-origin requests may not change the pool' });
    if (route.mutates && opts.token !== undefined && !authorized(req, opts.token)) return json(res, 401, { error: 'missing or wrong bearer token' });
    Promise.resolve()
      .then(() => route.handle({ req, res, source, statusReply }))
      .catch((err: unknown) => json(res, 500, { error: (err as Error).message }));
  });

  const [host, port] = splitHostPort(opts.listen);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
  } catch (err) {
    clearInterval(sampler);
    throw listenError(opts.listen, host, port, err as NodeJS.ErrnoException);
  }
  const a = server.address() as AddressInfo;
  return {
    server,
    address: `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`,
    close: () => {
      clearInterval(sampler);
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** Why the admin endpoint cannot listen, and what to do about it. */
export function listenError(listen: string, host: string, port: number, err: NodeJS.ErrnoException): ConfigError {
  const h = host.includes(':') ? `[${host}]` : host;
  switch (err.code) {
    case 'EADDRINUSE':
      return new ConfigError('admin', `--admin ${listen}: port ${port} is already in use (another dedup-pool, or another program); pick another port, like --admin ${h}:${port < 65535 ? port + 1 : 9464}, or --admin ${h}:0 for a free one`);
    case 'EACCES':
      return new ConfigError('admin', `--admin ${listen}: not allowed to listen on port ${port} (ports below 1024 need privileges); pick a port above 1023`);
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
      return new ConfigError('admin', `--admin ${listen}: ${host} is not an address of this machine; use 127.0.0.1 (this host only) or 0.0.0.0 (every interface)`);
    default:
      return new ConfigError('admin', `--admin ${listen}: cannot listen: ${err.message}`);
  }
}

/** `{replicas?, threads?}` with integer values, or the reason it is not. */
export function parseScale(body: unknown): { replicas?: number; threads?: number } | string {
  if (typeof body !== 'object' || body === null) return 'body must be a JSON object like {"replicas": 3, "threads": 2}';
  const { replicas, threads } = body as Record<string, unknown>;
  const ok = (v: unknown, min: number, max: number) => v === undefined || (Number.isInteger(v) && (v as number) >= min && (v as number) <= max);
  if (!ok(replicas, 1, 64)) return 'replicas must be an integer from 1 to 64';
  if (!ok(threads, 0, 256)) return 'threads must be an integer from 0 to 256 (0: handlers on the main thread)';
  if (replicas === undefined && threads === undefined) return 'give replicas, threads or both';
  return { ...(replicas !== undefined && { replicas: replicas as number }), ...(threads !== undefined && { threads: threads as number }) };
}

export function splitHostPort(listen: string): [string, number] {
  const i = listen.lastIndexOf(':');
  return [listen.slice(0, i).replace(/^\[|\]$/g, ''), Number(listen.slice(i + 1))];
}

/** Browsers send Origin on a cross-origin POST; other clients (the CLI, curl) send none. */
function sameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

function authorized(req: IncomingMessage, token: string): boolean {
  const given = Buffer.from(req.headers.authorization ?? '');
  const expected = Buffer.from(`Bearer ${token}`);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) return undefined;
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    return undefined;
  }
}

export function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(`${JSON.stringify(body)}\n`);
}

export function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain' });
  res.end(body);
}
