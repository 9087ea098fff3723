// A request written byte for byte on a fresh connection (`Connection: close` added), for
// request targets an HTTP client would normalise or refuse first (`/./metrics`, `//metrics`, `#`).
import net from 'node:net';

export interface RawAnswer {
  status: number;
  /** The status line and headers, as sent. */
  head: string;
  body: string;
}

export function rawTarget(
  port: number,
  method: string,
  target: string,
  opts: { localAddress?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const headers: Record<string, string> = { Host: 'chat.example.org', Connection: 'close', ...opts.headers };
    if (opts.body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(opts.body));
    const head = `${method} ${target} HTTP/1.1\r\n${Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('')}\r\n`;
    const sock = net.connect({ port, host: '127.0.0.1', localAddress: opts.localAddress }, () => {
      // latin1: each character of the target is one byte on the wire, as written.
      sock.write(Buffer.from(head, 'latin1'));
      if (opts.body !== undefined) sock.write(opts.body);
    });
    sock.setTimeout(5000, () => sock.destroy(new Error(`no answer to ${method} ${target}`)));
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('error', reject);
    sock.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const i = text.indexOf('\r\n\r\n');
      resolve({
        status: Number(/^HTTP\/1\.[01] (\d{3}) /.exec(text)?.[1] ?? 0),
        head: i < 0 ? text : text.slice(0, i),
        body: i < 0 ? '' : Buffer.from(text.slice(i + 4), 'latin1').toString('utf8'),
      });
    });
  });
}
