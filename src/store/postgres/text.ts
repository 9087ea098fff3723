// PostgreSQL's text cannot hold U+0000 (NUL), and the API stores message bodies exactly as sent,
// any Unicode included. Such text is stored escaped: "\" as "\\" and U+0000 as "\0", a mapping
// that can be undone exactly. Bodies are escaped only when they hold a NUL (a column says which),
// so every other body is stored as the text itself; client_ids are always escaped, so that one
// stored form means one client_id and the unique key stays exact.

const NUL = '\u0000';

export function escapeNul(s: string): string {
  // eslint-disable-next-line no-control-regex -- U+0000 is what it is for
  return s.replace(/[\\\u0000]/g, (c) => (c === NUL ? '\\0' : '\\\\'));
}

export function unescapeNul(s: string): string {
  return s.replace(/\\([\\0])/g, (_, c: string) => (c === '0' ? NUL : '\\'));
}

export function hasNul(s: string): boolean {
  return s.includes(NUL);
}
