// A tiny JSON client over fetch for process-level tests that talk to a real server by URL.
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

export async function signUpAndLogIn(base: string, username: string, deviceName = 'test'): Promise<{ token: string; cursor: string; deviceId: string }> {
  const password = 'correct horse battery';
  const u = await call(base, 'POST', '/users', { body: { username, password } });
  if (u.status !== 201 && u.status !== 409) throw new Error(`sign-up ${u.status} ${u.text}`);
  return logInAs(base, username, deviceName);
}

export async function logInAs(base: string, username: string, deviceName = 'test'): Promise<{ token: string; cursor: string; deviceId: string }> {
  const s = await call(base, 'POST', '/sessions', { body: { username, password: 'correct horse battery', device_name: deviceName } });
  if (s.status !== 201) throw new Error(`log-in ${s.status} ${s.text}`);
  return { token: s.body.token, cursor: s.body.cursor, deviceId: s.body.device.id };
}
