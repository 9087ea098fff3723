// A tiny JSON client for process-level tests that talk to a real server by URL: call() over
// fetch, callOnce() on a connection of its own, and one sign-up and log-in pair over either.
import http from 'node:http';

export interface JsonResponse {
  status: number;
  headers: Headers;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- parsed JSON of any shape
  text: string;
}

export async function call(
  base: string,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; signal?: AbortSignal } = {},
): Promise<JsonResponse> {
  const headers: Record<string, string> = {};
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    signal: opts.signal,
  });
  const text = await res.text();
  let body: unknown = undefined;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  return { status: res.status, headers: res.headers, body, text };
}

/** call() and callOnce() both fit: how a helper below talks to the server. */
export type Caller = (base: string, method: string, path: string, opts?: { token?: string; body?: unknown }) => Promise<JsonResponse>;

/**
 * Like call(), but on a connection of its own that closes after the answer (fetch keeps its
 * connections open, which a test that counts the server's sockets must avoid).
 */
export function callOnce(base: string, method: string, path: string, opts: { token?: string; body?: unknown } = {}): Promise<JsonResponse> {
  return new Promise((resolve, reject) => {
    const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    const headers: Record<string, string> = {};
    if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
    if (payload) headers['Content-Type'] = 'application/json';
    const req = http.request(`${base}${path}`, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown;
        try {
          body = text ? JSON.parse(text) : undefined;
        } catch {
          body = undefined;
        }
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') h.set(k, v);
        resolve({ status: res.statusCode ?? 0, headers: h, body, text });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** The password of every user these helpers sign up. */
const PASSWORD = 'correct horse battery';

/** Signs the user up (an existing one is fine) and logs a new device in; `via` callOnce for a connection per request. */
export async function signUpAndLogIn(
  base: string,
  username: string,
  deviceName = 'test',
  via: Caller = call,
): Promise<{ token: string; cursor: string; deviceId: string }> {
  const u = await via(base, 'POST', '/users', { body: { username, password: PASSWORD } });
  if (u.status !== 201 && u.status !== 409) throw new Error(`sign-up ${u.status} ${u.text}`);
  return logInAs(base, username, deviceName, via);
}

/** Logs a new device of an existing user in (one signed up by signUpAndLogIn). */
export async function logInAs(
  base: string,
  username: string,
  deviceName = 'test',
  via: Caller = call,
): Promise<{ token: string; cursor: string; deviceId: string }> {
  const s = await via(base, 'POST', '/sessions', { body: { username, password: PASSWORD, device_name: deviceName } });
  if (s.status !== 201) throw new Error(`log-in ${s.status} ${s.text}`);
  return { token: s.body.token, cursor: s.body.cursor, deviceId: s.body.device.id };
}
