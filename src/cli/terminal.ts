// Text for the administrator's terminal. Device names come from clients, and so can anything
// else stored (and command-line arguments get pasted from anywhere): printed raw, an escape
// sequence in one would clear the screen, set the window title, move the cursor or colour the
// rest of the output, so that what the administrator reads is not what is stored (#13). Every
// line the admin command line prints goes through here.

/**
 * Characters shown escaped: C0 controls (tab and newline included: they would split a field or
 * a line), DEL, C1 controls (U+009B is a one-character CSI), the bidirectional formatting
 * characters and U+2028/U+2029 (they reorder or break what is shown), and the backslash itself,
 * so that an escaped character cannot be told apart from a name spelling out its escape.
 */
// eslint-disable-next-line no-control-regex -- control characters are what it is for
const SHOWN_ESCAPED = /[\\\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function escaped(c: string): string {
  if (c === '\\') return '\\\\';
  const code = c.charCodeAt(0);
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** The text with every character a terminal would act on written as \xNN or \uNNNN. */
export function forTerminal(text: string): string {
  return text.replace(SHOWN_ESCAPED, escaped);
}

/** One line of output: a message, or the fields of a tab-separated row. */
export type Line = string | readonly string[];

/** A printer of lines to `stream`: each field (or the whole message) escaped, then a newline. */
export function printer(stream: { write(s: string): unknown }): (line: Line) => void {
  return (line) => {
    const text = typeof line === 'string' ? forTerminal(line) : line.map(forTerminal).join('\t');
    stream.write(`${text}\n`);
  };
}
