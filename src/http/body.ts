// Request bodies, read the same way on both lanes (readBody): JSON, forms (`curl -d`) and
// text/plain holding JSON (what old browsers' XDomainRequest sends, sometimes with no
// Content-Type at all). Bytes first (co-body's reader: the limit, gzip/deflate, a Content-Length
// that does not match), then checked to be UTF-8 and only then decoded, so that invalid bytes
// are refused (#13, item 8) instead of becoming U+FFFD. Bodies over the limit are refused with
// 413 from their Content-Length, before a byte is read (raw-body checks it first). GET, HEAD and
// OPTIONS are never parsed: the poll path stays lean.
import { isUtf8 } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import coBody from 'co-body';
import type { Context, Middleware } from 'koa';
import { Errors } from '../errors';
import type { AppState } from './context';
import { parseUrlEncoded } from './urlencoded';
import { asFields } from './validate';

/** How a body is read; null: a type the server does not read (the body counts as empty). */
export type BodyKind = 'json' | 'form' | 'text' | null;

/** The body's kind from its headers (a body without Content-Type is text, see above). */
export function bodyKind(ctx: Context): BodyKind {
  const h = ctx.req.headers;
  if (h['transfer-encoding'] === undefined && h['content-length'] === undefined) return null;
  if (!h['content-type']) return 'text';
  switch (ctx.is('json', 'urlencoded', 'text/plain')) {
    case 'json':
      return 'json';
    case 'urlencoded':
      return 'form';
    case 'text/plain':
      return 'text';
    default:
      return null;
  }
}

/** Text that may be parsed as JSON only after a closer look (see parseJson). */
const SUSPECT = /__proto__|constructor/;

/**
 * JSON text to a value. `strict` (an application/json body): an object or an array only, as
 * koa-body had it. A `__proto__` key, or `constructor.prototype`, is refused outright: harmless
 * to JSON.parse, they are what prototype pollution is made of once merged into another object.
 */
export function parseJson(text: string, strict: boolean): unknown {
  const t = text.trim();
  if (t === '') return {};
  if (strict && t[0] !== '{' && t[0] !== '[') throw Errors.invalidJson();
  try {
    if (!SUSPECT.test(t)) return JSON.parse(t) as unknown;
    return JSON.parse(t, function (this: unknown, key, value: unknown) {
      if (key === '__proto__' || (key === 'constructor' && value !== null && typeof value === 'object' && 'prototype' in value)) {
        throw new SyntaxError('a __proto__ or constructor.prototype key');
      }
      return value;
    }) as unknown;
  } catch {
    throw Errors.invalidJson();
  }
}

/** Reads a body of the given kind; rejects with the catalog's errors or raw-body's (413, 400). */
export async function readBody(req: IncomingMessage, kind: BodyKind, limitBytes: number): Promise<unknown> {
  if (kind === null) return {};
  // encoding false: raw-body hands over the bytes, undecoded.
  const bytes = (await coBody.text(req, { limit: limitBytes, encoding: false as unknown as string })) as unknown as Buffer;
  if (!isUtf8(bytes)) throw Errors.invalidRequest('body', 'must be valid UTF-8');
  let text = bytes.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // a byte order mark is no part of the text
  return kind === 'form' ? parseUrlEncoded(text, 'body') : parseJson(text, kind === 'json');
}

/** The Koa side: the body of a POST or DELETE onto ctx.state.body, and the method override. */
export function parseBody(limitBytes: number): Middleware<AppState> {
  return async (ctx, next) => {
    if (ctx.method !== 'POST' && ctx.method !== 'DELETE') {
      await next();
      return;
    }
    try {
      ctx.state.body = await readBody(ctx.req, bodyKind(ctx), limitBytes);
    } catch (err) {
      // Errors with an HTTP status (413, a short body) are mapped by failure() (answer.ts);
      // anything else here came from decoding the client's bytes (a broken gzip stream, say).
      if (typeof (err as { status?: unknown } | null)?.status === 'number') throw err;
      throw Errors.invalidRequest('body', 'could not be read (bad encoding or compression)');
    }
    if (ctx.method === 'POST' && overriddenToDelete(ctx.get('X-HTTP-Method-Override'), ctx.state.body)) ctx.method = 'DELETE';
    await next();
  };
}

/**
 * Proxies that allow only GET and POST: whether a POST with `X-HTTP-Method-Override: DELETE`
 * (the header, or '') or `_method=DELETE` in its body is a DELETE; throws for a bad override.
 */
export function overriddenToDelete(header: string, body: unknown): boolean {
  const field = asFieldsOrEmpty(body)._method;
  const wanted = header || (typeof field === 'string' ? field : '');
  if (field !== undefined && typeof field !== 'string') throw Errors.invalidRequest('_method', 'must be a string');
  if (!wanted) return false;
  const m = wanted.trim().toUpperCase();
  if (m === 'DELETE') return true;
  if (m !== 'POST') throw Errors.invalidRequest('_method', 'only DELETE can be sent as an override');
  return false;
}

function asFieldsOrEmpty(body: unknown): Record<string, unknown> {
  try {
    return asFields(body);
  } catch {
    return {};
  }
}
