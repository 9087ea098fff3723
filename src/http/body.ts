// Request bodies: JSON, forms (`curl -d`) and text/plain holding JSON (what old browsers'
// XDomainRequest sends, sometimes with no Content-Type at all). GET, HEAD and OPTIONS are never
// parsed: the poll path stays lean. Bodies over the limit are refused with 413 from their
// Content-Length, before a byte is read (raw-body checks it first).
import type { Middleware } from 'koa';
import { HttpMethodEnum, koaBody } from 'koa-body';
import { Errors } from '../errors';
import { asFields } from './validate';

// GET, HEAD and OPTIONS go straight through (no async frame held while a poll waits).
export function parseBody(limitBytes: number): Middleware {
  const parser = koaBody({
    json: true,
    jsonStrict: true,
    urlencoded: true,
    text: true,
    multipart: false,
    jsonLimit: limitBytes,
    formLimit: limitBytes,
    textLimit: limitBytes,
    textTypes: ['text/plain'],
    parsedMethods: [HttpMethodEnum.POST, HttpMethodEnum.DELETE],
    patchNode: false,
    patchKoa: true,
  });
  const parse: Middleware = async (ctx, next) => {
    if (!ctx.get('Content-Type') && (Number(ctx.get('Content-Length')) > 0 || ctx.get('Transfer-Encoding'))) {
      ctx.req.headers['content-type'] = 'text/plain';
    }
    try {
      await parser(ctx, async () => {});
    } catch (err) {
      // Errors with an HTTP status (413, 400 bad JSON, 415 charset) are rendered by respond();
      // anything else here came from decoding the client's bytes (a broken gzip stream, say).
      const status = (err as { status?: unknown }).status;
      if (typeof status === 'number') throw err;
      throw Errors.invalidRequest('body', 'could not be read (bad encoding or compression)');
    }
    const raw: unknown = ctx.request.body;
    if (typeof raw === 'string') {
      const text = raw.trim();
      if (text === '') ctx.request.body = {};
      else {
        try {
          ctx.request.body = JSON.parse(text) as typeof ctx.request.body;
        } catch {
          throw Errors.invalidJson();
        }
      }
    }
    await next();
  };
  return async (ctx, next) => {
    if (ctx.method === 'POST' || ctx.method === 'DELETE') await parse(ctx, next);
    else await next();
  };
}

/**
 * Proxies that allow only GET and POST: a POST with `X-HTTP-Method-Override: DELETE` or
 * `_method=DELETE` in its body is a DELETE.
 */
export const methodOverride: Middleware = (ctx, next) => {
  if (ctx.method === 'POST' && overriddenToDelete(ctx.get('X-HTTP-Method-Override'), ctx.request.body)) ctx.method = 'DELETE';
  return next();
};

/** Whether a POST with this override header (or '') and body is a DELETE; throws for a bad override. */
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
