/**
 * A delivery becomes either `{ id, body }` or the reason it cannot be processed.
 * Pure: no I/O, so every malformed shape is tested without a broker.
 */
import { createHash } from 'node:crypto';
import type { BadMessageReason } from '../common/errors.js';
import type { IdSource } from '../common/options.js';

/** What the handler receives. */
export interface HandlerMessage {
  id: string;
  /** Parsed JSON, or the raw bytes when the content type is not JSON. */
  body: unknown;
  headers: Record<string, unknown>;
  /** 1 on the first run of the handler for this id, counted across redeliveries and replicas. */
  attempt: number;
  redelivered: boolean;
}

export interface DeliveryLike {
  content: Buffer;
  properties: { messageId?: unknown; contentType?: unknown; headers?: Record<string, unknown> | undefined };
}

export interface ParseOptions {
  idFrom: IdSource[];
  idField: string;
  maxBytes: number;
}

/** Another source in --id-from carries a different id than the one chosen. */
export interface IdDisagreement {
  /** Where the chosen id came from, e.g. `body field message_id`. */
  chosenFrom: string;
  /** The other source and the id it carries. */
  otherFrom: string;
  otherId: string;
}

export type Parsed =
  | { ok: true; id: string; body: unknown; headers: Record<string, unknown>; disagreement?: IdDisagreement }
  | { ok: false; reason: BadMessageReason; detail: string };

export const MAX_ID_BYTES = 512;
const utf8 = new TextDecoder('utf-8', { fatal: true });

export function parseDelivery(msg: DeliveryLike, opts: ParseOptions): Parsed {
  const { content, properties } = msg;
  if (content.length > opts.maxBytes) {
    return bad('TOO_LARGE', `body is ${content.length} bytes, over the limit of ${opts.maxBytes}`);
  }
  const headers = properties.headers ?? {};
  if (typeof headers !== 'object' || Array.isArray(headers)) {
    return bad('BAD_HEADER', 'headers are not a table');
  }

  const contentType = properties.contentType;
  if (contentType !== undefined && typeof contentType !== 'string') {
    return bad('BAD_HEADER', 'content-type is not a string');
  }
  const body = isJson(contentType) ? decodeJson(content) : { ok: true as const, value: content };
  if (!body.ok) return body;

  const id = findId(msg, body.value, headers, opts);
  if (!id.ok) return id;
  const parsed: Extract<Parsed, { ok: true }> = { ok: true, id: id.value, body: body.value, headers };
  const disagreement = id.index === undefined ? undefined : disagreeing(msg, body.value, headers, opts, id.index, id.value);
  if (disagreement) parsed.disagreement = disagreement;
  return parsed;
}

function isJson(contentType: string | undefined): boolean {
  return contentType === undefined || contentType === '' || /json/i.test(contentType);
}

function decodeJson(content: Buffer): { ok: true; value: unknown } | { ok: false; reason: BadMessageReason; detail: string } {
  let text: string;
  try {
    text = utf8.decode(content);
  } catch {
    return bad('NOT_JSON', 'body is not valid UTF-8');
  }
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    // The classic mistake: a Python producer sending str(dict) instead of json.dumps(dict).
    const hint = /^\s*\{\s*'/.test(text) ? ' (looks like a Python dict repr: publish json.dumps(body), not str(body))' : '';
    return bad('NOT_JSON', `body is not valid JSON: ${(err as Error).message}${hint}`);
  }
}

/**
 * What one source holds, as a candidate id (possibly invalid), or undefined. Where it was
 * read is named only when it is reported (whereOf): nothing is built per message for it.
 */
function candidateIn(source: Exclude<IdSource, { kind: 'content' }>, msg: DeliveryLike, body: unknown, headers: Record<string, unknown>, idField: string): unknown {
  const candidate = source.kind === 'body' ? (isObject(body) ? body[idField] : undefined) : source.kind === 'header' ? headers[source.name] : msg.properties.messageId;
  if (candidate === undefined || candidate === null || candidate === '') return undefined;
  if (typeof candidate === 'number' && Number.isSafeInteger(candidate)) return String(candidate);
  if (Buffer.isBuffer(candidate)) return candidate.toString('utf8');
  return candidate;
}

function whereOf(source: Exclude<IdSource, { kind: 'content' }>, idField: string): string {
  if (source.kind === 'body') return `body field ${idField}`;
  return source.kind === 'header' ? `header ${source.name}` : 'the message-id property';
}

/** The id from the first source that has one, and that source's place in idFrom (none for a content hash). */
function findId(
  msg: DeliveryLike,
  body: unknown,
  headers: Record<string, unknown>,
  opts: ParseOptions,
): { ok: true; value: string; index?: number } | { ok: false; reason: BadMessageReason; detail: string } {
  const { idFrom, idField } = opts;
  for (let index = 0; index < idFrom.length; index++) {
    const source = idFrom[index]!;
    if (source.kind === 'content') return { ok: true, value: `sha256:${createHash('sha256').update(msg.content).digest('hex')}` };
    const candidate = candidateIn(source, msg, body, headers, idField);
    if (candidate === undefined) continue;
    if (typeof candidate !== 'string') return bad('BAD_ID', `id in ${whereOf(source, idField)} is a ${typeof candidate}, not a string`);
    const wrong = idProblem(candidate);
    return wrong ? bad('BAD_ID', `id in ${whereOf(source, idField)} ${wrong}`) : { ok: true, value: candidate, index };
  }
  const tried = idFrom.map((s) => (s.kind === 'header' ? `header:${s.name}` : s.kind)).join(', ');
  const shape = idFrom.some((s) => s.kind === 'body') && !isObject(body) ? `; the body is ${describeJson(body)}, not a JSON object` : '';
  return bad('NO_ID', `no message id (tried ${tried}${shape})`);
}

/**
 * The first later source in idFrom holding a different string id. Such a message
 * would run once per distinct id if the chosen source changed (or if a client sets a
 * fresh message-id property per publish and the order put it first), so it is reported.
 */
function disagreeing(msg: DeliveryLike, body: unknown, headers: Record<string, unknown>, opts: ParseOptions, chosen: number, id: string): IdDisagreement | undefined {
  const { idFrom, idField } = opts;
  for (let i = chosen + 1; i < idFrom.length; i++) {
    const source = idFrom[i]!;
    if (source.kind === 'content') continue;
    const other = candidateIn(source, msg, body, headers, idField);
    if (typeof other === 'string' && other !== id) {
      return { chosenFrom: whereOf(idFrom[chosen] as Exclude<IdSource, { kind: 'content' }>, idField), otherFrom: whereOf(source, idField), otherId: other };
    }
  }
  return undefined;
}

/** What is wrong with an id, or undefined. */
function idProblem(id: string): string | undefined {
  // Bytes are at most 3 per UTF-16 unit: most ids need no count.
  if (id.length * 3 > MAX_ID_BYTES && Buffer.byteLength(id) > MAX_ID_BYTES) return `is over ${MAX_ID_BYTES} bytes`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(id)) return 'contains control characters';
  return undefined;
}

function describeJson(v: unknown): string {
  if (Buffer.isBuffer(v)) return 'raw bytes';
  if (v === null) return 'null';
  return Array.isArray(v) ? 'an array' : `a ${typeof v}`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);
}

function bad(reason: BadMessageReason, detail: string): { ok: false; reason: BadMessageReason; detail: string } {
  return { ok: false, reason, detail };
}
