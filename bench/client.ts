// A small keep-alive HTTP/1.1 JSON client for the load generator: node:http with an Agent per
// role (senders, pollers), every request bounded in time, nothing but loopback.
import http from 'node:http';

export interface Reply {
  status: number;
  body: unknown;
}

export interface Endpoint {
  host: string;
  port: number;
}

export class Client {
  readonly agent: http.Agent;
  private readonly inflight = new Set<http.ClientRequest>();

  constructor(
    private readonly ep: Endpoint,
    maxSockets: number,
  ) {
    if (ep.host !== '127.0.0.1' && ep.host !== 'localhost') throw new Error('the load generator only speaks to loopback');
    // maxFreeSockets as large as maxSockets: re-opening sockets between polls would measure
    // connection set-up, not the server.
    this.agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets, scheduling: 'fifo' });
  }

  request(
    method: string,
    path: string,
    token: string | null,
    body?: unknown,
    timeoutMs = 60_000,
    onRequest?: (req: http.ClientRequest) => void,
  ): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const headers: http.OutgoingHttpHeaders = {};
      if (token) headers.authorization = `Bearer ${token}`;
      if (payload !== undefined) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = Buffer.byteLength(payload);
      }
      const req = http.request({ host: this.ep.host, port: this.ep.port, method, path, headers, agent: this.agent }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          this.inflight.delete(req);
          let parsed: unknown = text;
          if ((res.headers['content-type'] ?? '').includes('json') && text) {
            try {
              parsed = JSON.parse(text);
            } catch {
              return reject(new Error(`${method} ${path}: unparseable JSON (${text.slice(0, 80)})`));
            }
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
        res.on('error', (e) => {
          this.inflight.delete(req);
          reject(e);
        });
      });
      this.inflight.add(req);
      onRequest?.(req);
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)));
      req.on('error', (e) => {
        this.inflight.delete(req);
        reject(e);
      });
      req.end(payload);
    });
  }

  get pending(): number {
    return this.inflight.size;
  }

  /** Aborts every request still in flight (held polls at the end of a phase) and the sockets. */
  close(): void {
    for (const req of this.inflight) req.destroy(new Error('aborted by the load generator'));
    this.inflight.clear();
    this.agent.destroy();
  }
}

/** Runs fn over items with at most `limit` in flight. */
export async function pool<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export interface Summary {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentiles of latencies in ms. */
export function summarize(values: number[]): Summary {
  if (values.length === 0) return { n: 0, p50: NaN, p99: NaN, max: NaN };
  const s = Float64Array.from(values).sort();
  const at = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] as number;
  return { n: s.length, p50: at(0.5), p99: at(0.99), max: s[s.length - 1] as number };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
