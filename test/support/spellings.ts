// Other spellings of an endpoint's path (#13): what a client can send hoping that a proxy rule
// written for the path (nginx's `location = /metrics`) and the server disagree about whether
// it is that path. Each is a request target written as is on the wire.

/** Spellings the server must not take for `path` (404): case, slashes, dots, escapes, `;`, `#`. */
export function otherSpellings(path: string): string[] {
  // Spelled in its first segment (a value after it, such as a device id, is data: %-escapes in
  // it are decoded like any parameter's and name the same device).
  const [, first = '', rest = ''] = /^\/([^/]*)(.*)$/.exec(path) ?? [];
  const name = path.slice(1);
  const upper = name.toUpperCase();
  const hex = (c: string) => `%${c.charCodeAt(0).toString(16)}`;
  const escaped = (i: number) => `/${first.slice(0, i)}${hex(first.charAt(i))}${first.slice(i + 1)}${rest}`;
  return [
    `/${upper}`,
    `/${upper.charAt(0)}${name.slice(1)}`,
    `/${first.slice(0, -1)}${first.slice(-1).toUpperCase()}${rest}`,
    `${path}/`,
    `${path}//`,
    `${path}/?callback=x`,
    `/${upper}?callback=x`,
    escaped(0),
    escaped(0).replace(/%[0-9a-f]{2}/, (m) => m.toUpperCase()),
    escaped(first.length - 1),
    `/%2f${name}`,
    `/${path}`,
    `//${path}`,
    `/.${path}`,
    `/x/..${path}`,
    `/%2e${path}`,
    `${path}/.`,
    `${path}/..${path}`,
    `${path};x`,
    `${path};`,
    `${path}#x`,
    `${path}#`,
    `${path}%23x`,
    `${path}%3F`,
    `${path}%3Fcallback=x`,
    `${path}%2F`,
    `${path}%20`,
    `${path}.`,
    `${path}\u00a0`,
  ].filter((s, i, all) => s !== path && all.indexOf(s) === i); // (upper-casing a digit changes nothing)
}

/** Spellings that are the path itself to a proxy (and to the server): a proxy rule must catch them. */
export function sameSpellings(path: string): string[] {
  return [path, `${path}?`, `${path}?callback=x`, `${path}?x=1&callback=x`, `http://chat.example.org${path}`];
}
