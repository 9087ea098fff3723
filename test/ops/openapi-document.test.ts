// docs/openapi.json on its own (issue #7): its references resolve, its schemas compile in
// strict JSON Schema, it states the conventions on every operation, and it describes every
// endpoint of the contract (docs/API.md) and every route of the server. The real server's
// answers are checked against it in openapi.test.ts; the checker is test/support/openapi.ts.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startApp } from '../support/app';
import { createApp } from '../../src/server';
import {
  ajv,
  deref,
  doc,
  type Json,
  type MediaType,
  operations,
  type Parameter,
  pointer,
  type ResponseObject,
  rewriteRefs,
} from '../support/openapi';
import { REPO_ROOT } from '../support/server';

/** Every endpoint of the public HTTP contract (the project's API.md), as METHOD /path. */
const CONTRACT = [
  'POST /users',
  'POST /sessions',
  'DELETE /sessions/current',
  'GET /devices',
  'DELETE /devices/{id}',
  'POST /messages',
  'GET /messages',
  'GET /search',
  'GET /conversations',
  'POST /read',
  'GET /poll',
  'GET /presence',
  'GET /healthz',
  'GET /metrics',
  'GET /openapi.json',
  'POST /groups',
  'GET /groups',
  'GET /groups/{id}',
  'POST /groups/{id}',
  'POST /groups/{id}/members',
  'DELETE /groups/{id}/members/{username}',
];

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
        assert.ok(
          statuses.some((s) => /^2\d\d$/.test(s)),
          `${method} ${template} documents a success`,
        );
        for (const [status, r] of Object.entries(op.responses)) {
          assert.ok(deref<ResponseObject>(r).description, `${method} ${template} ${status} has a description`);
          for (const media of Object.values(deref<ResponseObject>(r).content ?? {})) {
            if (media.schema) assert.doesNotThrow(() => ajv.compile(rewriteRefs(media.schema) as Json), `${method} ${template} ${status}`);
          }
        }
        const params = [...(doc.paths[template]!.parameters ?? []), ...(op.parameters ?? [])].map((p) => deref<Parameter>(p));
        for (const name of template.match(/\{([^}]+)\}/g) ?? []) {
          assert.ok(
            params.some((p) => p.in === 'path' && `{${p.name}}` === name && p.required),
            `${method} ${template} declares ${name}`,
          );
        }
      }
    });

    it('describes every endpoint of the contract and every route the server has', async () => {
      const documented = new Set(operations().map((o) => `${o.method.toUpperCase()} ${o.template}`));
      for (const e of CONTRACT) assert.ok(documented.has(e), `${e} is in docs/openapi.json`);
      // docs/API.md: every "### `METHOD /path`" heading.
      const api = fs.readFileSync(path.join(REPO_ROOT, 'docs', 'API.md'), 'utf8');
      for (const m of api.matchAll(/^### `([A-Z]+) (\/[^`?\s]*)/gm)) {
        const e = `${m[1]} ${m[2]!.replace(/\/ID\b/g, '/{id}').replace(/\/USERNAME\b/g, '/{username}')}`;
        assert.ok(documented.has(e), `${e} (docs/API.md) is in docs/openapi.json`);
      }
      // The server's own router.
      const t = await startApp();
      try {
        const { koa } = createApp({ core: t.core, logger: t.logger });
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
          assert.ok(
            params.some((p) => p.name === 'callback' && p.in === 'query'),
            `${what} takes callback`,
          );
          assert.ok(deref<ResponseObject>(op.responses['200']!).content?.['application/javascript'], `${what} documents JSONP`);
        }
        const needsToken = (op.security ?? []).length > 0;
        if (needsToken) {
          assert.deepEqual(op.security, [{ bearer: [] }, { accessToken: [] }], `${what}: header or query token`);
          assert.ok(op.responses['401'], `${what} documents 401`);
        }
        if (op.requestBody) {
          const content = deref<{ content: Record<string, MediaType> }>(op.requestBody).content;
          assert.deepEqual(
            Object.keys(content).sort(),
            ['application/json', 'application/x-www-form-urlencoded', 'text/plain'],
            `${what}: the three body encodings`,
          );
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
});
