// The body reader (src/http/body.ts, readBody): a plain body is read without co-body (#18), and
// must come out as co-body (raw-body) would have it: the same bytes, and for a body cut short,
// longer than declared or aborted, the same answer once mapped (answer.ts, toAppError).
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import zlib from 'node:zlib';
import coBody from 'co-body';
import { isAppError } from '../../src/errors';
import { toAppError } from '../../src/http/answer';
import { parseJson, readBody } from '../../src/http/body';

const LIMIT = 100;

/** A request with these headers whose body `feed` then writes (and ends, or not). */
function request(headers: Record<string, string>, feed: (r: PassThrough & { emit: PassThrough['emit'] }) => void): IncomingMessage {
  const r = Object.assign(new PassThrough(), { headers });
  setImmediate(() => feed(r));
  return r as unknown as IncomingMessage;
}

/** What readBody made of it: the value, or the catalog's error as answered (status, code, message). */
async function outcome(req: IncomingMessage): Promise<unknown> {
  try {
    return { value: await readBody(req, 'json', LIMIT) };
  } catch (err) {
    const e = toAppError(err, LIMIT);
    assert.ok(e && isAppError(e), `a catalog error, not ${String(err)}`);
    return { status: e.status, body: e.toJSON() };
  }
}

/** The same through co-body (what readBody used for every body before #18), mapped likewise. */
async function coBodyOutcome(req: IncomingMessage): Promise<unknown> {
  try {
    const bytes = (await coBody.text(req, { limit: LIMIT, encoding: false as unknown as string })) as unknown as Buffer;
    return { value: parseJson(bytes.toString('utf8'), true) };
  } catch (err) {
    const e = toAppError(err, LIMIT);
    assert.ok(e, `a client error, not ${String(err)}`);
    return { status: e.status, body: e.toJSON() };
  }
}

const json = (n: number) => JSON.stringify({ to: 'bob', body: 'x'.repeat(n) });

/** Each case: what, the headers, the body as it comes, and the status expected (200: a value). */
const cases: [string, Record<string, string>, (r: PassThrough) => void, number][] = [
  ['a plain body', { 'content-length': String(json(10).length) }, (r) => r.end(json(10)), 200],
  [
    'a plain body in several chunks',
    { 'content-length': String(json(40).length) },
    (r) => {
      const t = json(40);
      r.write(t.slice(0, 5));
      r.write(t.slice(5, 30));
      r.end(t.slice(30));
    },
    200,
  ],
  ['a body shorter than its Content-Length', { 'content-length': String(json(10).length + 5) }, (r) => r.end(json(10)), 400],
  ['a body longer than its Content-Length', { 'content-length': String(json(10).length - 3) }, (r) => r.end(json(10)), 400],
  ['a body past the limit whatever its Content-Length said', { 'content-length': '50' }, (r) => r.end(json(LIMIT)), 413],
  [
    'a body whose client went away',
    { 'content-length': '60' },
    (r) => {
      r.write('{"to":');
      r.emit('aborted');
      r.destroy();
    },
    400,
  ],
  ['an empty body', { 'content-length': '0' }, (r) => r.end(), 200],
];

describe('request bodies (unit, #18)', () => {
  for (const [what, headers, feed, status] of cases) {
    it(`${what}: read as co-body reads it (${status})`, async () => {
      const ours = (await outcome(request(headers, feed))) as { value?: unknown; status?: number };
      assert.deepEqual(ours, await coBodyOutcome(request(headers, feed)));
      assert.equal(ours.status ?? 200, status);
    });
  }

  it('a compressed body still goes through co-body, and reads the same', async () => {
    const gz = zlib.gzipSync(json(20));
    const req = request({ 'content-length': String(gz.length), 'content-encoding': 'gzip' }, (r) => r.end(gz));
    assert.deepEqual(await outcome(req), { value: JSON.parse(json(20)) });
  });

  it('a Content-Length over the limit is 413 before a byte is read', async () => {
    const req = request({ 'content-length': String(LIMIT + 1) }, () => undefined);
    assert.deepEqual(await outcome(req), {
      status: 413,
      body: { error: { code: 'payload_too_large', message: `the request body is larger than ${LIMIT} bytes` } },
    });
  });
});
