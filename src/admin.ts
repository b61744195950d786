/**
 * The supervisor's admin HTTP endpoint: /metrics /healthz /readyz /status, and
 * POST /scale. Binds to loopback unless told otherwise; with a token set,
 * mutations need `Authorization: Bearer <token>`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { createMetrics } from './metrics.js';
import type { Supervisor } from './supervisor.js';

export interface AdminServer {
  server: Server;
  /** "host:port" actually bound (port 0 resolved). */
  address: string;
  close(): Promise<void>;
}

const MAX_BODY = 4096;

export async function startAdmin(supervisor: Supervisor, listen: string, token?: string): Promise<AdminServer> {
  const metrics = createMetrics(() => supervisor.status());
  const [host, port] = splitHostPort(listen);

  const server = createServer((req, res) => {
    route(req, res).catch((err: unknown) => json(res, 500, { error: (err as Error).message }));
  });

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://admin').pathname;
    if (req.method === 'GET' && path === '/healthz') return text(res, 200, 'ok\n');
    if (req.method === 'GET' && path === '/readyz') {
      const ready = supervisor.status().ready;
      return text(res, ready ? 200 : 503, ready ? 'ready\n' : 'not ready\n');
    }
    if (req.method === 'GET' && path === '/status') return json(res, 200, supervisor.status());
    if (req.method === 'GET' && path === '/metrics') {
      res.writeHead(200, { 'content-type': metrics.contentType });
      return void res.end(await metrics.metrics());
    }
    if (req.method === 'POST' && path === '/scale') {
      if (token !== undefined && !authorized(req, token)) return json(res, 401, { error: 'missing or wrong bearer token' });
      const body = await readJson(req);
      const change = parseScale(body);
      if (typeof change === 'string') return json(res, 400, { error: change });
      return json(res, 200, supervisor.scale(change));
    }
    return json(res, 404, { error: `no route ${req.method} ${path}` });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const a = server.address() as AddressInfo;
  return {
    server,
    address: `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
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

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(`${JSON.stringify(body)}\n`);
}

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain' });
  res.end(body);
}
