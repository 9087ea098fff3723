// One HTTP request on a fresh connection with full control of the headers, and the answer's
// headers exactly as they came (fetch adds its own Accept-Encoding and hides
// Transfer-Encoding, which the contract's "never chunked" is about).
import http from 'node:http';

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** When the last byte arrived (Date.now()). */
  doneAt: number;
}

/** Asks for gzip unless told otherwise, so a proxy or server that would compress shows it. */
export function raw(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer; agent?: http.Agent; localAddress?: string } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: opts.method ?? 'GET',
        agent: opts.agent ?? false,
        // Another loopback source address (127.0.0.2, ...) is another client to a proxy.
        localAddress: opts.localAddress,
        headers: { 'Accept-Encoding': 'gzip', ...opts.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8'), doneAt: Date.now() }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (opts.body !== undefined) req.end(opts.body);
    else req.end();
  });
}
