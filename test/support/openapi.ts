// The checker behind test/ops/openapi.test.ts and openapi-document.test.ts (issue #7):
// docs/openapi.json as data (references, operations, the operation a method and path belong
// to), its schemas compiled by Ajv in strict mode, and the checks of a real answer (or a request
// body about to be sent) against the operation it belongs to: status documented, body matching
// the schema of that status and media type, documented headers present, the contract's headers
// on every answer.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { REPO_ROOT } from './server';

/** What the checks read of an answer (test/ops/raw-http.ts gives exactly this, headers as they came). */
export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

export type Json = Record<string, unknown>;

export interface MediaType {
  schema?: unknown;
}
interface Header {
  required?: boolean;
  schema?: unknown;
}
export interface ResponseObject {
  description?: string;
  headers?: Record<string, Header | { $ref: string }>;
  content?: Record<string, MediaType>;
}
export interface Parameter {
  name: string;
  in: string;
  required?: boolean;
  schema?: unknown;
}
export interface Operation {
  operationId: string;
  security?: Array<Record<string, string[]>>;
  parameters?: Array<Parameter | { $ref: string }>;
  requestBody?: { required?: boolean; content: Record<string, MediaType> } | { $ref: string };
  responses: Record<string, ResponseObject | { $ref: string }>;
}
export type PathItem = Record<string, Operation> & { parameters?: Array<Parameter | { $ref: string }> };
export interface OpenApi {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, PathItem>;
  components: { schemas: Record<string, unknown>; responses: Record<string, ResponseObject>; securitySchemes: Json };
}

const DOC_FILE = path.join(REPO_ROOT, 'docs', 'openapi.json');
export const doc = JSON.parse(fs.readFileSync(DOC_FILE, 'utf8')) as OpenApi;
const METHODS = ['get', 'post', 'delete', 'put', 'patch', 'head', 'options'] as const;

// --- the document as data -----------------------------------------------------------------
export function pointer(ref: string): unknown {
  assert.ok(ref.startsWith('#/'), `only local references: ${ref}`);
  let node: unknown = doc;
  for (const raw of ref.slice(2).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    assert.ok(node && typeof node === 'object' && key in (node as Json), `unresolved reference ${ref}`);
    node = (node as Json)[key];
  }
  return node;
}

export function deref<T>(node: T | { $ref: string }): T {
  let n: unknown = node;
  for (let i = 0; i < 10 && n && typeof n === 'object' && typeof (n as { $ref?: unknown }).$ref === 'string'; i++) {
    n = pointer((n as { $ref: string }).$ref);
  }
  return n as T;
}

export function operations(): Array<{ method: string; template: string; op: Operation }> {
  const out: Array<{ method: string; template: string; op: Operation }> = [];
  for (const [template, item] of Object.entries(doc.paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (op) out.push({ method, template, op });
    }
  }
  return out;
}

function templateRegex(template: string): RegExp {
  const escaped = template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+');
  return new RegExp(`^${escaped}$`);
}

function findOperation(method: string, pathname: string): { template: string; op: Operation } {
  for (const [template, item] of Object.entries(doc.paths)) {
    if (!templateRegex(template).test(pathname)) continue;
    const op = item[method.toLowerCase()];
    assert.ok(op, `${method} ${template} is not in docs/openapi.json`);
    return { template, op };
  }
  assert.fail(`no path in docs/openapi.json matches ${pathname}`);
}

// --- JSON Schema ----------------------------------------------------------------------------
// The components' schemas are registered once under one id; every "#/components/schemas/X"
// becomes a reference into it, so response schemas compile on their own.
const SCHEMAS_ID = 'https://longpoll-chat.invalid/schemas.json';

export function rewriteRefs(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(rewriteRefs);
  if (!node || typeof node !== 'object') return node;
  const out: Json = {};
  for (const [k, v] of Object.entries(node as Json)) {
    if (k === '$ref' && typeof v === 'string' && v.startsWith('#/components/schemas/'))
      out[k] = `${SCHEMAS_ID}#/$defs/${v.slice('#/components/schemas/'.length)}`;
    else out[k] = rewriteRefs(v);
  }
  return out;
}

// Strict: a misspelt keyword in the document is an error, not a schema that accepts anything.
export const ajv = new Ajv2020({ strict: true, allErrors: true, allowUnionTypes: true });
addFormats(ajv);
// OpenAPI's discriminator is an annotation for code generators; oneOf does the validation.
ajv.addKeyword({ keyword: 'discriminator' });
ajv.addSchema({ $id: SCHEMAS_ID, $defs: rewriteRefs(doc.components.schemas) as Json });
const validators = new Map<unknown, ValidateFunction>();

function validate(schema: unknown, value: unknown, what: string): void {
  let v = validators.get(schema);
  if (!v) {
    v = ajv.compile(rewriteRefs(schema) as Json);
    validators.set(schema, v);
  }
  if (!v(value)) {
    assert.fail(
      `${what} does not match docs/openapi.json: ${ajv.errorsText(v.errors, { separator: '; ' })}\n  value: ${(JSON.stringify(value) as string | undefined)?.slice(0, 600)}`,
    );
  }
}

// --- checking real answers --------------------------------------------------------------------
/** operationId -> the statuses its real answers were checked for (check() adds to it). */
export const exercised = new Map<string, Set<number>>();

function record(opId: string, status: number): void {
  const set = exercised.get(opId) ?? new Set<number>();
  set.add(status);
  exercised.set(opId, set);
}

/** The contract's conventions every answer keeps, whatever the endpoint. */
export function commonHeaders(res: Answer, what: string): void {
  assert.equal(res.headers['cache-control'], 'no-store', `${what}: Cache-Control`);
  assert.equal(res.headers.pragma, 'no-cache', `${what}: Pragma`);
  assert.equal(res.headers.expires, '0', `${what}: Expires`);
  assert.ok(res.headers['access-control-allow-origin'], `${what}: Access-Control-Allow-Origin`);
  assert.equal(res.headers['x-content-type-options'], 'nosniff', `${what}: nosniff`);
  assert.equal(res.headers['transfer-encoding'], undefined, `${what}: never chunked`);
  if (res.status !== 204) assert.equal(res.headers['content-length'], String(Buffer.byteLength(res.text)), `${what}: Content-Length`);
}

function checkHeaders(response: ResponseObject, res: Answer, what: string): void {
  for (const [name, h] of Object.entries(response.headers ?? {})) {
    const header = deref<Header>(h);
    const value = res.headers[name.toLowerCase()];
    if (header.required) assert.ok(value !== undefined, `${what}: documented header ${name} is missing`);
    if (value !== undefined && header.schema) validate(header.schema, value, `${what}: header ${name}`);
  }
}

function mediaType(res: Answer): string {
  return (res.headers['content-type'] ?? '').split(';')[0]!.trim();
}

/** Validates one real answer against a response object of the document; returns its body. */
export function checkResponse(response: ResponseObject, res: Answer, what: string): unknown {
  checkHeaders(response, res, what);
  if (!response.content) {
    assert.equal(res.text, '', `${what}: documented without a body`);
    return undefined;
  }
  const type = mediaType(res);
  const media = response.content[type];
  assert.ok(media, `${what}: came as ${type}, documented as ${Object.keys(response.content).join(', ')}`);
  const body: unknown = type === 'application/json' ? JSON.parse(res.text) : res.text;
  if (media.schema) validate(media.schema, body, what);
  return body;
}

/** Checks an answer of METHOD url against its operation; returns the status and the body. */
export function check(method: string, url: string, res: Answer): { status: number; body: unknown } {
  const { pathname } = new URL(url);
  const { template, op } = findOperation(method, pathname);
  const what = `${method} ${template} -> ${res.status}`;
  commonHeaders(res, what);
  if (mediaType(res) === 'application/javascript') {
    // JSONP: always 200 on the wire; the real status is inside.
    assert.equal(res.status, 200, `${what}: JSONP is always 200`);
    assert.equal(res.headers['x-content-type-options'], 'nosniff', `${what}: nosniff`);
    const ok = deref<ResponseObject>(op.responses['200']!);
    const jsonp = ok.content?.['application/javascript'];
    assert.ok(jsonp, `${what}: JSONP is not documented for ${method} ${template}`);
    validate(jsonp.schema, res.text, `${what} (JSONP)`);
    const m = /^\/\*\*\/[A-Za-z_$][A-Za-z0-9_$.]*\(([\s\S]*)\);$/.exec(res.text);
    const inner = JSON.parse(m![1]!) as Json;
    const status = typeof inner.status === 'number' ? inner.status : 200;
    const documented = op.responses[String(status)];
    assert.ok(documented, `${method} ${template}: status ${status} (inside JSONP) is not documented`);
    const content = deref<ResponseObject>(documented).content ?? {};
    // A text answer (/metrics) travels in JSONP as {"text": ...}.
    const media =
      content['application/json'] ?? (content['text/plain'] ? { schema: { $ref: '#/components/schemas/JsonpText' } } : undefined);
    assert.ok(media, `${method} ${template} ${status}: no JSON schema`);
    validate(media.schema, inner, `${method} ${template} -> ${status} (inside JSONP)`);
    record(op.operationId, status);
    return { status, body: inner };
  }
  const documented = op.responses[String(res.status)];
  assert.ok(documented, `${what}: status ${res.status} is not documented for this operation (body: ${res.text.slice(0, 200)})`);
  const body = checkResponse(deref<ResponseObject>(documented), res, what);
  record(op.operationId, res.status);
  return { status: res.status, body };
}

/** Validates a request body we are about to send against the operation's requestBody. */
function checkRequest(method: string, pathname: string, type: string, text: string): void {
  const { template, op } = findOperation(method, pathname);
  assert.ok(op.requestBody, `${method} ${template} takes no body in the document`);
  const media = deref<{ content: Record<string, MediaType> }>(op.requestBody).content[type];
  assert.ok(media, `${method} ${template} does not document ${type} bodies`);
  const what = `request body of ${method} ${template} as ${type}`;
  if (type === 'application/json') validate(media.schema, JSON.parse(text), what);
  else if (type === 'application/x-www-form-urlencoded') validate(media.schema, Object.fromEntries(new URLSearchParams(text)), what);
  else {
    validate(media.schema, text, what);
    const inner = (media.schema as { contentSchema?: unknown }).contentSchema;
    if (inner) validate(inner, JSON.parse(text), what);
  }
}

export interface CallOptions {
  token?: string;
  json?: unknown;
  form?: Record<string, string>;
  text?: string;
  /** A raw body sent as it is, for error cases (not checked against the request schema). */
  rawBody?: { type: string; body: string };
  headers?: Record<string, string>;
}

export function requestParts(method: string, url: string, opts: CallOptions): { headers: Record<string, string>; body?: string } {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
  let type: string | undefined;
  let body: string | undefined;
  if (opts.json !== undefined) [type, body] = ['application/json', JSON.stringify(opts.json)];
  else if (opts.form) [type, body] = ['application/x-www-form-urlencoded', new URLSearchParams(opts.form).toString()];
  else if (opts.text !== undefined) [type, body] = ['text/plain', opts.text];
  if (type && body !== undefined) {
    checkRequest(method, new URL(url).pathname, type, body);
    headers['Content-Type'] = type;
  }
  if (opts.rawBody) [headers['Content-Type'], body] = [opts.rawBody.type, opts.rawBody.body];
  return { headers, body };
}
