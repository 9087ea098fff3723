// docs/openapi.json describes what the server really does (issue #7). The document is checked
// on its own (references, strict JSON Schema, conventions, every endpoint of the contract and
// every route of the server), then every endpoint of the real server is called, for success
// and for its main errors, and each answer is validated against the document: the status must
// be documented for that operation, the body must match the schema of that status and media
// type, documented headers must be there. So the document cannot drift from the server.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { signUpAndLogIn } from '../support/client';
import { startApp } from '../support/app';
import { createApp } from '../../src/server';
import { REPO_ROOT, type RunningServer, startServer } from '../support/server';
import { raw, type RawResponse } from './raw-http';

type Json = Record<string, unknown>;

interface MediaType {
  schema?: unknown;
}
interface Header {
  required?: boolean;
  schema?: unknown;
}
interface ResponseObject {
  description?: string;
  headers?: Record<string, Header | { $ref: string }>;
  content?: Record<string, MediaType>;
}
interface Parameter {
  name: string;
  in: string;
  required?: boolean;
  schema?: unknown;
}
interface Operation {
  operationId: string;
  security?: Array<Record<string, string[]>>;
  parameters?: Array<Parameter | { $ref: string }>;
  requestBody?: { required?: boolean; content: Record<string, MediaType> } | { $ref: string };
  responses: Record<string, ResponseObject | { $ref: string }>;
}
type PathItem = Record<string, Operation> & { parameters?: Array<Parameter | { $ref: string }> };
interface OpenApi {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, PathItem>;
  components: { schemas: Record<string, unknown>; responses: Record<string, ResponseObject>; securitySchemes: Json };
}

const DOC_FILE = path.join(REPO_ROOT, 'docs', 'openapi.json');
const DOC_TEXT = fs.readFileSync(DOC_FILE, 'utf8');
const doc = JSON.parse(DOC_TEXT) as OpenApi;
const METHODS = ['get', 'post', 'delete', 'put', 'patch', 'head', 'options'] as const;

/** Every endpoint of the public HTTP contract (the project's API.md), as METHOD /path. */
const CONTRACT = [
  'POST /users',
  'POST /sessions',
  'DELETE /sessions/current',
  'GET /devices',
  'DELETE /devices/{id}',
  'POST /messages',
  'GET /messages',
  'GET /conversations',
  'POST /read',
  'GET /poll',
  'GET /presence',
  'GET /healthz',
  'GET /metrics',
  'GET /openapi.json',
];

// --- the document as data -----------------------------------------------------------------
function pointer(ref: string): unknown {
  assert.ok(ref.startsWith('#/'), `only local references: ${ref}`);
  let node: unknown = doc;
  for (const raw of ref.slice(2).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    assert.ok(node && typeof node === 'object' && key in (node as Json), `unresolved reference ${ref}`);
    node = (node as Json)[key];
  }
  return node;
}

function deref<T>(node: T | { $ref: string }): T {
  let n: unknown = node;
  for (let i = 0; i < 10 && n && typeof n === 'object' && typeof (n as { $ref?: unknown }).$ref === 'string'; i++) {
    n = pointer((n as { $ref: string }).$ref);
  }
  return n as T;
}

function operations(): Array<{ method: string; template: string; op: Operation }> {
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

function rewriteRefs(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(rewriteRefs);
  if (!node || typeof node !== 'object') return node;
  const out: Json = {};
  for (const [k, v] of Object.entries(node as Json)) {
    if (k === '$ref' && typeof v === 'string' && v.startsWith('#/components/schemas/')) out[k] = `${SCHEMAS_ID}#/$defs/${v.slice('#/components/schemas/'.length)}`;
    else out[k] = rewriteRefs(v);
  }
  return out;
}

// Strict: a misspelt keyword in the document is an error, not a schema that accepts anything.
const ajv = new Ajv2020({ strict: true, allErrors: true, allowUnionTypes: true });
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
    assert.fail(`${what} does not match docs/openapi.json: ${ajv.errorsText(v.errors, { separator: '; ' })}\n  value: ${JSON.stringify(value)?.slice(0, 600)}`);
  }
}

// --- checking real answers --------------------------------------------------------------------
/** operationId -> the statuses its real answers were checked for. */
const exercised = new Map<string, Set<number>>();
/** Paths of the contract the server does not serve yet (a plain OPTIONS on them is 404). */
const notServed = new Set<string>();

function record(opId: string, status: number): void {
  const set = exercised.get(opId) ?? new Set<number>();
  set.add(status);
  exercised.set(opId, set);
}

/** The contract's conventions every answer keeps, whatever the endpoint. */
function commonHeaders(res: RawResponse, what: string): void {
  assert.equal(res.headers['cache-control'], 'no-store', `${what}: Cache-Control`);
  assert.equal(res.headers.pragma, 'no-cache', `${what}: Pragma`);
  assert.equal(res.headers.expires, '0', `${what}: Expires`);
  assert.ok(res.headers['access-control-allow-origin'], `${what}: Access-Control-Allow-Origin`);
  assert.equal(res.headers['transfer-encoding'], undefined, `${what}: never chunked`);
  if (res.status !== 204) assert.equal(res.headers['content-length'], String(Buffer.byteLength(res.text)), `${what}: Content-Length`);
}

function checkHeaders(response: ResponseObject, res: RawResponse, what: string): void {
  for (const [name, h] of Object.entries(response.headers ?? {})) {
    const header = deref<Header>(h);
    const value = res.headers[name.toLowerCase()];
    if (header.required) assert.ok(value !== undefined, `${what}: documented header ${name} is missing`);
    if (value !== undefined && header.schema) validate(header.schema, value, `${what}: header ${name}`);
  }
}

function mediaType(res: RawResponse): string {
  return String(res.headers['content-type'] ?? '').split(';')[0]!.trim();
}

/** Validates one real answer against a response object of the document; returns its body. */
function checkResponse(response: ResponseObject, res: RawResponse, what: string): unknown {
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
function check(method: string, url: string, res: RawResponse): { status: number; body: unknown } {
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
    const media = content['application/json'] ?? (content['text/plain'] ? { schema: { $ref: '#/components/schemas/JsonpText' } } : undefined);
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

interface CallOptions {
  token?: string;
  json?: unknown;
  form?: Record<string, string>;
  text?: string;
  /** A raw body sent as it is, for error cases (not checked against the request schema). */
  rawBody?: { type: string; body: string };
  headers?: Record<string, string>;
}

function requestParts(method: string, url: string, opts: CallOptions): { headers: Record<string, string>; body?: string } {
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

describe('OpenAPI description (docs/openapi.json, #7)', () => {
  describe('the document', () => {
    it('is OpenAPI 3.1 whose references all resolve and whose schemas compile in strict mode', () => {
      assert.equal(doc.openapi, '3.1.0');
      assert.ok(doc.info.title && doc.info.version);
      const refs: string[] = [];
      const walk = (n: unknown): void => {
        if (Array.isArray(n)) n.forEach(walk);
        else if (n && typeof n === 'object') {
          for (const [k, v] of Object.entries(n as Json)) {
            if (k === '$ref' && typeof v === 'string') refs.push(v);
            else walk(v);
          }
        }
      };
      walk(doc);
      assert.ok(refs.length > 50);
      for (const r of refs) pointer(r);
      for (const [name, schema] of Object.entries(doc.components.schemas)) {
        assert.doesNotThrow(() => ajv.compile(rewriteRefs(schema) as Json), `schema ${name}`);
      }
      const ids = operations().map((o) => o.op.operationId);
      assert.equal(new Set(ids).size, ids.length, 'operationIds are unique');
      for (const { method, template, op } of operations()) {
        const statuses = Object.keys(op.responses);
        assert.ok(statuses.some((s) => /^2\d\d$/.test(s)), `${method} ${template} documents a success`);
        for (const [status, r] of Object.entries(op.responses)) {
          assert.ok(deref<ResponseObject>(r).description, `${method} ${template} ${status} has a description`);
          for (const media of Object.values(deref<ResponseObject>(r).content ?? {})) {
            if (media.schema) assert.doesNotThrow(() => ajv.compile(rewriteRefs(media.schema) as Json), `${method} ${template} ${status}`);
          }
        }
        const params = [...(doc.paths[template]!.parameters ?? []), ...(op.parameters ?? [])].map((p) => deref<Parameter>(p));
        for (const name of template.match(/\{([^}]+)\}/g) ?? []) {
          assert.ok(params.some((p) => p.in === 'path' && `{${p.name}}` === name && p.required), `${method} ${template} declares ${name}`);
        }
      }
    });

    it('describes every endpoint of the contract and every route the server has', async () => {
      const documented = new Set(operations().map((o) => `${o.method.toUpperCase()} ${o.template}`));
      for (const e of CONTRACT) assert.ok(documented.has(e), `${e} is in docs/openapi.json`);
      // docs/API.md: every "### `METHOD /path`" heading.
      const api = fs.readFileSync(path.join(REPO_ROOT, 'docs', 'API.md'), 'utf8');
      for (const m of api.matchAll(/^### `([A-Z]+) (\/[^`?\s]*)/gm)) {
        const e = `${m[1]} ${m[2]!.replace(/\/ID\b/g, '/{id}')}`;
        assert.ok(documented.has(e), `${e} (docs/API.md) is in docs/openapi.json`);
      }
      // The server's own router.
      const t = await startApp();
      try {
        const koa = createApp({ core: t.core, logger: t.logger });
        let routes = 0;
        for (const mw of koa.middleware as Array<{ router?: { stack: Array<{ path: string; methods: string[] }> } }>) {
          for (const layer of mw.router?.stack ?? []) {
            for (const m of layer.methods.filter((x) => x !== 'HEAD')) {
              routes++;
              const e = `${m} ${layer.path.replace(/:(\w+)/g, '{$1}')}`;
              assert.ok(documented.has(e), `the server's route ${e} is in docs/openapi.json`);
            }
          }
        }
        assert.ok(routes >= 10, `found ${routes} routes`);
      } finally {
        await t.close();
      }
    });

    it('states the conventions on every operation: JSONP on GETs, 401 where a token is needed, body errors on POSTs', () => {
      for (const { method, template, op } of operations()) {
        const what = `${method.toUpperCase()} ${template}`;
        if (method === 'options') continue;
        const params = (op.parameters ?? []).map((p) => deref<Parameter>(p));
        if (method === 'get') {
          assert.ok(params.some((p) => p.name === 'callback' && p.in === 'query'), `${what} takes callback`);
          assert.ok(deref<ResponseObject>(op.responses['200']!).content?.['application/javascript'], `${what} documents JSONP`);
        }
        const needsToken = (op.security ?? []).length > 0;
        if (needsToken) {
          assert.deepEqual(op.security, [{ bearer: [] }, { accessToken: [] }], `${what}: header or query token`);
          assert.ok(op.responses['401'], `${what} documents 401`);
        }
        if (op.requestBody) {
          const content = deref<{ content: Record<string, MediaType> }>(op.requestBody).content;
          assert.deepEqual(Object.keys(content).sort(), ['application/json', 'application/x-www-form-urlencoded', 'text/plain'], `${what}: the three body encodings`);
          assert.ok(op.responses['400'] && op.responses['413'], `${what} documents 400 and 413`);
        }
        for (const [status, r] of Object.entries(op.responses)) {
          const headers = deref<ResponseObject>(r).headers ?? {};
          if (status !== '204' || method !== 'options') assert.ok(headers['Cache-Control'], `${what} ${status} documents Cache-Control`);
          if (status === '429' || status === '503') assert.ok(headers['Retry-After'], `${what} ${status} documents Retry-After`);
          if (status === '405') assert.ok(headers.Allow, `${what} 405 documents Allow`);
        }
      }
      assert.deepEqual(Object.keys(doc.components.securitySchemes).sort(), ['accessToken', 'bearer']);
    });
  });

  describe('real answers of the server match it', function () {
    this.timeout(60_000);
    let server: RunningServer;
    let base: string;
    let alice: { token: string; cursor: string; deviceId: string };
    let bob: { token: string; cursor: string; deviceId: string };

    before(async () => {
      server = await startServer({ env: { SCRYPT_COST: '10' } });
      base = server.url;
      alice = await signUpAndLogIn(base, 'oa_alice');
      bob = await signUpAndLogIn(base, 'oa_bob');
    });
    after(async () => {
      await server?.stop();
    });

    async function api(method: string, pathAndQuery: string, opts: CallOptions = {}): Promise<{ status: number; body: any; res: RawResponse }> { // eslint-disable-line @typescript-eslint/no-explicit-any -- checked against the schema
      const url = `${base}${pathAndQuery}`;
      const { headers, body } = requestParts(method, url, opts);
      const res = await raw(url, { method, headers, body });
      const checked = check(method, url, res);
      return { ...checked, res, body: checked.body as any }; // eslint-disable-line @typescript-eslint/no-explicit-any
    }

    async function errorCode(method: string, pathAndQuery: string, opts: CallOptions, status: number, code: string): Promise<void> {
      const r = await api(method, pathAndQuery, opts);
      assert.equal(r.status, status, `${method} ${pathAndQuery}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, code);
    }

    /** A plain OPTIONS is 204 on a path the server serves and 404 on one it does not. */
    async function served(this: Mocha.Context, pathname: string, method: string): Promise<void> {
      const res = await raw(`${base}${pathname}`, { method: 'OPTIONS' });
      if (res.status === 404) {
        notServed.add(pathname);
        console.log(`      ${method} ${pathname} is in the contract but the server does not serve it yet: checked when it does`);
        this.skip();
      }
    }

    it('GET /healthz, plain and as JSONP', async () => {
      assert.deepEqual((await api('GET', '/healthz')).body, { ok: true });
      assert.deepEqual((await api('GET', '/healthz?callback=cb&_=1')).body, { ok: true });
    });

    it('an invalid JSONP callback is a plain-JSON 400 with the headers of every answer, CORS included', async () => {
      await errorCode('GET', '/healthz?callback=1bad', {}, 400, 'invalid_request');
      await errorCode('GET', `/devices?callback=no-dashes&access_token=${alice.token}`, {}, 400, 'invalid_request');
    });

    it('POST /users in all three encodings, and its errors', async () => {
      assert.equal((await api('POST', '/users', { json: { username: 'OA_Carol', password: 'long enough' } })).body.user.username, 'oa_carol');
      assert.equal((await api('POST', '/users', { form: { username: 'oa_dave', password: 'long enough' } })).status, 201);
      assert.equal((await api('POST', '/users', { text: JSON.stringify({ username: 'oa_erin', password: 'long enough' }) })).status, 201);
      await errorCode('POST', '/users', { json: { username: 'oa_carol', password: 'long enough' } }, 409, 'username_taken');
      await errorCode('POST', '/users', { rawBody: { type: 'application/json', body: '{"username": "oa_x", "password": ' } }, 400, 'invalid_json');
      await errorCode('POST', '/users', { rawBody: { type: 'application/json', body: '{"username": "oa_x", "password": "short"}' } }, 400, 'invalid_request');
      await errorCode('POST', '/users', { rawBody: { type: 'application/json', body: JSON.stringify({ username: 'oa_x', password: 'x'.repeat(70_000) }) } }, 413, 'payload_too_large');
    });

    it('POST /sessions, and wrong credentials', async () => {
      const s = await api('POST', '/sessions', { form: { username: 'oa_carol', password: 'long enough', device_name: 'kiosk' } });
      assert.equal(s.status, 201);
      assert.equal(s.body.device.name, 'kiosk');
      await errorCode('POST', '/sessions', { json: { username: 'oa_carol', password: 'wrong password' } }, 401, 'invalid_credentials');
      await errorCode('POST', '/sessions', { rawBody: { type: 'application/json', body: '{"username":"oa_carol"}' } }, 400, 'invalid_request');
    });

    it('GET /devices and DELETE or POST-override /devices/{id}, and their errors', async () => {
      const extra = await signUpAndLogIn(base, 'oa_alice', 'phone');
      const third = await signUpAndLogIn(base, 'oa_alice', 'tablet');
      const list = await api('GET', '/devices', { token: alice.token });
      assert.ok(list.body.devices.length >= 3);
      await api('GET', `/devices?access_token=${alice.token}&callback=onDevices`);
      await errorCode('GET', '/devices', {}, 401, 'unauthorized');
      assert.equal((await api('DELETE', `/devices/${extra.deviceId}`, { token: alice.token })).status, 204);
      await errorCode('DELETE', `/devices/${bob.deviceId}`, { token: alice.token }, 404, 'not_found');
      assert.equal((await api('POST', `/devices/${third.deviceId}`, { form: { _method: 'DELETE', access_token: alice.token } })).status, 204);
      await errorCode('POST', `/devices/${third.deviceId}`, { token: alice.token }, 405, 'method_not_allowed');
    });

    it('DELETE and POST-override /devices?except=current, and their errors (#14)', async () => {
      const spare = await signUpAndLogIn(base, 'oa_alice', 'spare');
      const other = await signUpAndLogIn(base, 'oa_alice', 'other');
      assert.deepEqual((await api('DELETE', '/devices?except=current', { token: spare.token })).body, { revoked: 2 });
      const again = await signUpAndLogIn(base, 'oa_alice', 'again');
      assert.deepEqual((await api('POST', '/devices?except=current', { form: { _method: 'DELETE', access_token: again.token } })).body, { revoked: 1 });
      await errorCode('DELETE', '/devices', { token: again.token }, 400, 'invalid_request');
      await errorCode('DELETE', '/devices?except=current', { token: other.token }, 401, 'unauthorized');
      await errorCode('POST', '/devices?except=current', { token: again.token }, 405, 'method_not_allowed');
      alice = again;
    });

    it('DELETE /sessions/current, also as a POST with X-HTTP-Method-Override', async () => {
      const one = await signUpAndLogIn(base, 'oa_bob', 'one');
      const two = await signUpAndLogIn(base, 'oa_bob', 'two');
      assert.equal((await api('DELETE', '/sessions/current', { token: one.token })).status, 204);
      await errorCode('DELETE', '/sessions/current', { token: one.token }, 401, 'unauthorized');
      assert.equal((await api('POST', '/sessions/current', { token: two.token, headers: { 'X-HTTP-Method-Override': 'DELETE' } })).status, 204);
    });

    it('POST /messages (created, retried, conflicting) and GET /messages pages', async () => {
      const sent = await api('POST', '/messages', { token: alice.token, json: { to: 'oa_bob', body: 'hi <b>bob</b>\n😀', client_id: 'oa-1' } });
      assert.equal(sent.status, 201);
      assert.equal(sent.body.message.client_id, 'oa-1');
      assert.equal((await api('POST', '/messages', { token: alice.token, json: { to: 'oa_bob', body: 'hi <b>bob</b>\n😀', client_id: 'oa-1' } })).status, 200);
      await errorCode('POST', '/messages', { token: alice.token, json: { to: 'oa_bob', body: 'other', client_id: 'oa-1' } }, 409, 'client_id_reused');
      await errorCode('POST', '/messages', { token: alice.token, json: { to: 'oa_nobody', body: 'x' } }, 404, 'user_not_found');
      await errorCode('POST', '/messages', { token: alice.token, rawBody: { type: 'application/json', body: '{"to":"oa_bob","body":"   "}' } }, 400, 'invalid_request');
      await errorCode('POST', '/messages', { json: { to: 'oa_bob', body: 'x' } }, 401, 'unauthorized');
      assert.equal((await api('POST', '/messages', { form: { to: 'oa_bob', body: 'by form', access_token: alice.token } })).status, 201);
      assert.equal((await api('POST', '/messages', { token: bob.token, text: JSON.stringify({ to: 'oa_alice', body: 'by text/plain' }) })).status, 201);

      const page = await api('GET', '/messages?with=oa_bob&limit=2', { token: alice.token });
      assert.equal(page.body.messages.length, 2);
      assert.equal(page.body.has_more, true);
      const older = await api('GET', `/messages?with=oa_bob&limit=2&before=${page.body.messages[0].id}&callback=page`, { token: alice.token });
      assert.equal(older.body.has_more, false);
      await api('GET', `/messages?with=oa_bob&after=0&limit=200`, { token: bob.token });
      await errorCode('GET', '/messages?with=oa_bob&limit=0', { token: alice.token }, 400, 'invalid_request');
      await errorCode('GET', '/messages?with=oa_nobody', { token: alice.token }, 404, 'user_not_found');
      await errorCode('GET', '/messages?with=oa_bob', {}, 401, 'unauthorized');
    });

    it('GET /poll: events at once, held then woken, timed out, JSONP, and its errors', async () => {
      const now = await api('GET', `/poll?since=${bob.cursor}&timeout=0`, { token: bob.token });
      assert.ok(now.body.events.length >= 2);
      assert.equal(now.res.headers['x-accel-buffering'], 'no');
      const limited = await api('GET', `/poll?since=${bob.cursor}&timeout=0&limit=1`, { token: bob.token });
      assert.equal(limited.body.events.length, 1);
      const cursor = now.body.cursor as string;

      const held = api('GET', `/poll?since=${cursor}&timeout=20`, { token: bob.token });
      await new Promise((r) => setTimeout(r, 300));
      await api('POST', '/messages', { token: alice.token, json: { to: 'oa_bob', body: 'wake up' } });
      const woken = await held;
      assert.deepEqual(woken.body.events.map((e: { message: { body: string } }) => e.message.body), ['wake up']);

      const empty = await api('GET', `/poll?since=${woken.body.cursor}&timeout=0.2`, { token: bob.token });
      assert.deepEqual(empty.body, { cursor: woken.body.cursor, events: [] });
      await api('GET', `/poll?since=${cursor}&timeout=0&callback=onPoll&access_token=${bob.token}`);
      await api('GET', `/poll?since=x&callback=onPoll&access_token=${bob.token}`);
      await errorCode('GET', '/poll?since=not-a-cursor', { token: bob.token }, 400, 'invalid_cursor');
      await errorCode('GET', '/poll?since=99999999&timeout=0', { token: bob.token }, 400, 'invalid_cursor');
      await errorCode('GET', '/poll?timeout=soon', { token: bob.token }, 400, 'invalid_request');
      await errorCode('GET', '/poll', {}, 401, 'unauthorized');

      // A revoked device's held poll is answered 401 at once.
      const kiosk = await signUpAndLogIn(base, 'oa_bob', 'kiosk');
      const revoked = api('GET', '/poll?timeout=20', { token: kiosk.token });
      await new Promise((r) => setTimeout(r, 300));
      await api('DELETE', `/devices/${kiosk.deviceId}`, { token: bob.token });
      assert.equal((await revoked).status, 401);
    });

    it('GET /presence', async () => {
      const p = await api('GET', '/presence', { token: alice.token });
      assert.ok(p.body.online.includes('oa_bob'));
      await api('GET', `/presence?callback=x&access_token=${alice.token}`);
      await errorCode('GET', '/presence', {}, 401, 'unauthorized');
    });

    it('POST /read and the read event in the stream', async function () {
      await served.call(this, '/read', 'POST');
      const sent = await api('POST', '/messages', { token: alice.token, json: { to: 'oa_bob', body: 'read me' } });
      const before = await api('GET', '/poll?timeout=0', { token: bob.token });
      assert.equal((await api('POST', '/read', { token: bob.token, form: { with: 'oa_alice', up_to: String(sent.body.message.id) } })).status, 204);
      const events = await api('GET', `/poll?since=${before.body.cursor}&timeout=0`, { token: bob.token });
      assert.deepEqual(events.body.events, [{ type: 'read', with: 'oa_alice', up_to: sent.body.message.id }]);
      await errorCode('POST', '/read', { token: bob.token, rawBody: { type: 'application/json', body: '{"with":"oa_alice"}' } }, 400, 'invalid_request');
      await errorCode('POST', '/read', { token: bob.token, json: { with: 'oa_nobody', up_to: 1 } }, 404, 'user_not_found');
      await errorCode('POST', '/read', { token: bob.token, json: { with: 'oa_alice', up_to: 99_999_999 } }, 404, 'not_found');
      await errorCode('POST', '/read', { json: { with: 'oa_alice', up_to: 1 } }, 401, 'unauthorized');
    });

    it('GET /conversations', async function () {
      await served.call(this, '/conversations', 'GET');
      const c = await api('GET', '/conversations', { token: alice.token });
      assert.ok(c.body.conversations.some((x: { with: string }) => x.with === 'oa_bob'));
      await api('GET', `/conversations?callback=c&access_token=${alice.token}`);
      await errorCode('GET', '/conversations', {}, 401, 'unauthorized');
    });

    it('GET /metrics', async function () {
      await served.call(this, '/metrics', 'GET');
      const m = await api('GET', '/metrics');
      assert.match(m.res.headers['content-type'] ?? '', /^text\/plain/);
      assert.match((await api('GET', '/metrics?callback=onMetrics')).body.text, /^# HELP /m);
    });

    it('GET /openapi.json serves this very document', async function () {
      await served.call(this, '/openapi.json', 'GET');
      const served_ = await api('GET', '/openapi.json');
      assert.deepEqual(served_.body, doc, 'the served document is docs/openapi.json');
    });

    it('OPTIONS (preflight and plain) on every path, 405 with Allow, 404 for unknown paths', async () => {
      for (const template of Object.keys(doc.paths)) {
        if (notServed.has(template)) continue;
        const p = template.replace('{id}', 'some-device');
        const res = await raw(`${base}${p}`, { method: 'OPTIONS', headers: { Origin: 'http://kiosk.example', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'Authorization' } });
        check('OPTIONS', `${base}${p}`, res);
        assert.equal(res.status, 204);
        assert.match(String(res.headers['access-control-allow-headers']), /Authorization/);
      }
      const plain = await raw(`${base}/messages`, { method: 'OPTIONS' });
      check('OPTIONS', `${base}/messages`, plain);
      assert.match(String(plain.headers.allow), /GET/);

      const put = await raw(`${base}/messages`, { method: 'PUT', headers: { Authorization: `Bearer ${alice.token}` } });
      commonHeaders(put, 'PUT /messages');
      assert.equal(put.status, 405);
      assert.deepEqual(checkResponse(doc.components.responses.MethodNotAllowed!, put, 'PUT /messages -> 405'), JSON.parse(put.text));
      const nowhere = await raw(`${base}/no/such/thing`);
      commonHeaders(nowhere, 'GET /no/such/thing');
      assert.equal(nowhere.status, 404);
      checkResponse(doc.components.responses.NotFound!, nowhere, 'GET /no/such/thing -> 404');
    });

    it('403 when sign-up is off, 503 overloaded when the server holds its maximum of polls', async () => {
      const closed = await startServer({ env: { SCRYPT_COST: '10', SIGNUP_ENABLED: 'false' } });
      const tight = await startServer({ env: { SCRYPT_COST: '10', MAX_HELD_POLLS: '1' } });
      const saved = base;
      try {
        base = closed.url;
        await errorCode('POST', '/users', { json: { username: 'oa_frank', password: 'long enough' } }, 403, 'forbidden');
        base = tight.url;
        const u = await signUpAndLogIn(tight.url, 'oa_gina');
        const first = api('GET', '/poll?timeout=20', { token: u.token });
        await new Promise((r) => setTimeout(r, 300));
        const second = await api('GET', `/poll?since=${u.cursor}&timeout=20`, { token: (await signUpAndLogIn(tight.url, 'oa_hank')).token });
        assert.equal(second.status, 503);
        assert.equal(second.body.error.code, 'overloaded');
        await tight.stop();
        assert.equal((await first).status, 200, 'the held poll is answered when the server stops');
      } finally {
        base = saved;
        await closed.stop();
        await tight.stop();
      }
    });

    it('every documented operation was called and its success checked', () => {
      const missing: string[] = [];
      for (const { method, template, op } of operations()) {
        if (notServed.has(template)) continue;
        const statuses = exercised.get(op.operationId);
        const success = Object.keys(op.responses).filter((s) => /^2\d\d$/.test(s)).map(Number);
        if (!statuses || !success.some((s) => statuses.has(s))) missing.push(`${method.toUpperCase()} ${template}`);
      }
      assert.deepEqual(missing, [], 'operations whose success answer was never validated');
      if (notServed.size > 0) console.log(`      not served yet, so not validated: ${[...notServed].join(', ')}`);
    });
  });
});
