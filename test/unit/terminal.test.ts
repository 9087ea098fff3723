// What the admin command line prints (issue #13): nothing a terminal would act on.
import assert from 'node:assert/strict';
import { forTerminal, printer } from '../../src/cli/terminal';

describe('terminal output (unit, #13)', () => {
  it('escapes control characters, bidirectional overrides and the backslash; keeps other text as it is', () => {
    assert.equal(forTerminal('\u001b[2J\u001b]0;title\u0007'), '\\x1b[2J\\x1b]0;title\\x07');
    assert.equal(forTerminal('tab\there\nnew\rline\u0000'), 'tab\\x09here\\x0anew\\x0dline\\x00');
    assert.equal(forTerminal('\u007f\u0085\u009b31m'), '\\x7f\\x85\\x9b31m');
    assert.equal(forTerminal('abc\u202edcba\u2066\u2069\u200f\u2028'), 'abc\\u202edcba\\u2066\\u2069\\u200f\\u2028');
    assert.equal(forTerminal('a\\x1b'), 'a\\\\x1b', 'a name spelling out an escape is not taken for one');
    assert.equal(forTerminal('Küche 😀 שלום 台所'), 'Küche 😀 שלום 台所');
  });

  it('prints a row field by field: a tab or newline inside a field cannot make a column or a line', () => {
    let written = '';
    const out = printer({ write: (s: string) => (written += s) });
    out(['id1', 'front\tdesk\nFAKE\tROW', '2026-01-01']);
    out('done: \u001b[31mred');
    assert.equal(written, 'id1\tfront\\x09desk\\x0aFAKE\\x09ROW\t2026-01-01\ndone: \\x1b[31mred\n');
  });
});
