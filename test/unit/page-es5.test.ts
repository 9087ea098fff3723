// The chat page must run on old browsers and kiosk WebKits with no build step (issue 4), so
// every script the browser gets must be plain ECMAScript 5 and must not lean on newer APIs.
// And it must run under a strict Content-Security-Policy (#13): no inline script or style in
// the HTML, no handler attributes, no string turned into code.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as acorn from 'acorn';
import { REPO_ROOT } from '../support/server';
import { htmlWithoutComments, INDEX_HTML, pageScriptFiles, PUBLIC_DIR, scriptSources } from '../support/page';

// Globals that old engines lack. Each is a reason the page would break there.
const BANNED_GLOBALS: Record<string, string> = {
  fetch: 'use XMLHttpRequest',
  Promise: 'use callbacks',
  WebSocket: 'the page talks long polling only',
  EventSource: 'the page talks long polling only',
  Map: 'ES2015; use a plain object',
  Set: 'ES2015; use a plain object',
  WeakMap: 'ES2015',
  WeakSet: 'ES2015',
  Symbol: 'ES2015',
  Proxy: 'ES2015',
  Reflect: 'ES2015',
  eval: 'string-to-code: a Content-Security-Policy without unsafe-eval refuses it (#13)',
  Function: 'new Function is string-to-code: refused by the Content-Security-Policy (#13)',
};

// Timers that also take a string of code; the page must always pass a function.
const STRING_TIMERS = new Set(['setTimeout', 'setInterval', 'setImmediate', 'execScript']);

function isStringy(n: acorn.Node): boolean {
  const e = n as acorn.Expression;
  if (e.type === 'Literal') return typeof e.value === 'string';
  if (e.type === 'BinaryExpression') return e.operator === '+' && (isStringy(e.left) || isStringy(e.right));
  return false;
}

// Property names whose use means a newer API (or, for the HTML ones, a way for message text to
// be parsed as markup: the page must build nodes and add text as text).
const BANNED_PROPERTIES: Record<string, string> = {
  ...BANNED_GLOBALS,
  includes: 'ES2016; use indexOf',
  startsWith: 'ES2015; use indexOf or a regex',
  endsWith: 'ES2015; use a regex',
  padStart: 'ES2017',
  padEnd: 'ES2017',
  repeat: 'ES2015',
  findIndex: 'ES2015',
  assign: 'Object.assign is ES2015',
  entries: 'ES2015/2017',
  closest: 'not in old WebKit; walk parentNode',
  classList: 'not in old browsers; use className',
  dataset: 'not in old browsers; use getAttribute',
  innerHTML: 'message text must never be parsed as HTML',
  outerHTML: 'message text must never be parsed as HTML',
  insertAdjacentHTML: 'message text must never be parsed as HTML',
};

interface Finding {
  where: string;
  problem: string;
}

type AnyNode = acorn.Node & Record<string, unknown>;

function isNode(x: unknown): x is AnyNode {
  return typeof x === 'object' && x !== null && typeof (x as { type?: unknown }).type === 'string';
}

function walk(node: AnyNode, visit: (n: AnyNode) => void): void {
  visit(node);
  for (const key of Object.keys(node)) {
    const child = node[key];
    if (Array.isArray(child)) {
      for (const c of child) if (isNode(c)) walk(c, visit);
    } else if (isNode(child)) {
      walk(child, visit);
    }
  }
}

/** Parses source as an ES5 script and lists every problem; an empty list means it passes. */
function checkEs5(source: string, name: string): Finding[] {
  let ast: acorn.Node;
  try {
    ast = acorn.parse(source, { ecmaVersion: 5, sourceType: 'script', locations: true });
  } catch (err) {
    return [{ where: name, problem: `not ECMAScript 5: ${(err as Error).message}` }];
  }
  const findings: Finding[] = [];
  const at = (n: acorn.Node) => `${name}:${n.loc ? `${n.loc.start.line}:${n.loc.start.column + 1}` : n.start}`;
  walk(ast as AnyNode, (n) => {
    if (n.type === 'Identifier') {
      const id = n as unknown as acorn.Identifier;
      // Strict on purpose: this also catches window.fetch and { Promise: ... }.
      if (Object.hasOwn(BANNED_GLOBALS, id.name)) {
        findings.push({ where: at(n), problem: `uses ${id.name} (${BANNED_GLOBALS[id.name]})` });
      }
    } else if (n.type === 'MemberExpression') {
      const m = n as unknown as acorn.MemberExpression;
      let prop: string | null = null;
      if (!m.computed && m.property.type === 'Identifier') prop = m.property.name;
      else if (m.property.type === 'Literal' && typeof m.property.value === 'string') prop = m.property.value;
      // window.fetch was already reported as an Identifier; window['fetch'] was not.
      const alreadyReported = !m.computed && prop !== null && Object.hasOwn(BANNED_GLOBALS, prop);
      if (prop !== null && Object.hasOwn(BANNED_PROPERTIES, prop) && !alreadyReported) {
        findings.push({ where: at(n), problem: `uses .${prop} (${BANNED_PROPERTIES[prop]})` });
      }
    } else if (n.type === 'CallExpression' || n.type === 'NewExpression') {
      const c = n as unknown as acorn.CallExpression;
      const callee = c.callee;
      const name =
        callee.type === 'Identifier'
          ? callee.name
          : callee.type === 'MemberExpression' && !callee.computed && callee.property.type === 'Identifier'
            ? callee.property.name
            : null;
      const first = c.arguments[0];
      if (name !== null && STRING_TIMERS.has(name) && first && isStringy(first)) {
        findings.push({
          where: at(n),
          problem: `passes a string of code to ${name} (string-to-code: refused by the Content-Security-Policy, #13)`,
        });
      }
    }
  });
  return findings;
}

function listFiles(dir: string, pred: (f: string) => boolean): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(full, pred));
    else if (pred(entry.name)) out.push(full);
  }
  return out.sort();
}

/**
 * Every script the page can run: those the HTML pages load (in order), their inline blocks,
 * and any other .js file in public/ (served, so reachable, even if no page loads it).
 */
function pageScripts(): { name: string; source: string }[] {
  const scripts: { name: string; source: string }[] = [];
  const seen = new Set<string>();
  const addFile = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    scripts.push({ name: path.relative(REPO_ROOT, file), source: fs.readFileSync(file, 'utf8') });
  };
  for (const file of listFiles(PUBLIC_DIR, (f) => /\.html?$/.test(f))) {
    const html = fs.readFileSync(file, 'utf8');
    for (const src of scriptSources(html)) {
      const target = path.resolve(path.dirname(file), src);
      assert.ok(
        !/^([a-z][a-z0-9+.-]*:)?\/\//i.test(src) && target.startsWith(PUBLIC_DIR + path.sep) && fs.existsSync(target),
        `${path.relative(REPO_ROOT, file)} loads a script that is not in public/: ${src}`,
      );
      addFile(target);
    }
    const re = /<script\b([^>]*)>([\s\S]*?)<\/script>/gi;
    let m: RegExpExecArray | null;
    let i = 0;
    const clean = htmlWithoutComments(html);
    while ((m = re.exec(clean)) !== null) {
      i += 1;
      const attrs = m[1] ?? '';
      const body = m[2] ?? '';
      if (/\bsrc\s*=/.test(attrs)) continue;
      if (/\btype\s*=\s*["']?(?!text\/javascript)/i.test(attrs)) continue; // data blocks, not scripts
      scripts.push({ name: `${path.relative(REPO_ROOT, file)} <script> #${i}`, source: body });
    }
  }
  for (const file of listFiles(PUBLIC_DIR, (f) => f.endsWith('.js'))) addFile(file);
  return scripts;
}

/** What in an HTML page a strict Content-Security-Policy would refuse (#13). */
function cspProblems(html: string): string[] {
  const problems: string[] = [];
  const clean = htmlWithoutComments(html);
  const scripts = /<script\b([^>]*)>([\s\S]*?)<\/script>/gi;
  let m: RegExpExecArray | null;
  while ((m = scripts.exec(clean)) !== null) {
    if (!/\bsrc\s*=/.test(m[1] ?? '') || (m[2] ?? '').trim() !== '') problems.push(`inline script: ${m[0].slice(0, 60)}`);
  }
  if (/<style\b/i.test(clean)) problems.push('a <style> element');
  const tags = /<[a-z][a-z0-9-]*\b[^>]*>/gi;
  while ((m = tags.exec(clean)) !== null) {
    const tag = m[0];
    const attr = /\s(on[a-z]+|style)\s*=/i.exec(tag);
    if (attr) problems.push(`${attr[1]} attribute: ${tag.slice(0, 80)}`);
    if (/=\s*["']?\s*javascript:/i.test(tag)) problems.push(`javascript: URL: ${tag.slice(0, 80)}`);
  }
  return problems;
}

describe('the chat page is plain ES5 (issue 4)', () => {
  it('parses every script the page loads as ECMAScript 5 with no fetch, Promise, WebSocket, HTML injection or eval', () => {
    const scripts = pageScripts();
    const names = scripts.map((s) => s.name);
    const loaded = pageScriptFiles().map((f) => path.relative(REPO_ROOT, f));
    assert.ok(loaded.length >= 2, `index.html loads ${loaded.join(', ')}`);
    for (const name of loaded) assert.ok(names.includes(name), `${name} is not checked`);
    const findings = scripts.flatMap((s) => checkEs5(s.source, s.name));
    assert.deepEqual(
      findings.map((f) => `${f.where}: ${f.problem}`),
      [],
      'scripts in public/ must run on old browsers',
    );
  });

  it('serves no script that index.html does not load (#12)', () => {
    const loaded = pageScriptFiles()
      .map((f) => path.relative(PUBLIC_DIR, f))
      .sort();
    const served = listFiles(PUBLIC_DIR, (f) => f.endsWith('.js'))
      .map((f) => path.relative(PUBLIC_DIR, f))
      .sort();
    assert.deepEqual(served, loaded, 'every .js file in public/ is loaded by index.html, once');
    assert.equal(new Set(loaded).size, loaded.length, 'no script is loaded twice');
  });

  it('has nothing in index.html that a strict Content-Security-Policy refuses (#13)', () => {
    assert.deepEqual(cspProblems(fs.readFileSync(INDEX_HTML, 'utf8')), []);
    for (const [what, html] of [
      ['an inline script', '<p>x</p><script>alert(1)</script>'],
      ['a handler attribute', '<button type="button" onclick="go()">Go</button>'],
      ['a style attribute', '<div class="a" style="color: red">x</div>'],
      ['a style element', '<style>p { color: red }</style>'],
      ['a javascript: URL', '<a href="javascript:go()">go</a>'],
    ] as const) {
      assert.notDeepEqual(cspProblems(html), [], `catches ${what}`);
    }
    assert.deepEqual(
      cspProblems('<!-- <script>old()</script> --><script src="js/a.js"></script>'),
      [],
      'comments and external scripts pass',
    );
  });

  it('accepts plain ES5 that uses XMLHttpRequest and text nodes', () => {
    const ok = [
      'var x = new XMLHttpRequest();',
      'x.onreadystatechange = function () { if (x.readyState === 4) { var d = JSON.parse(x.responseText); } };',
      'var o = { "with": 1, get a() { return 2; } };',
      'node.appendChild(document.createTextNode(o["with"]));',
      'setTimeout(function () { x.abort(); }, 35000);',
      'var t = setTimeout(retry, delay);',
    ].join('\n');
    assert.deepEqual(checkEs5(ok, 'ok.js'), []);
  });

  const mustFail: [string, string, RegExp][] = [
    ['an arrow function', 'var f = (a) => a + 1;', /not ECMAScript 5/],
    ['let', 'let n = 1;', /not ECMAScript 5/],
    ['const', 'const n = 1;', /not ECMAScript 5/],
    ['a class', 'class Chat {}', /not ECMAScript 5/],
    ['a template string', 'var s = `hi ${name}`;', /not ECMAScript 5/],
    ['destructuring', 'var { a } = o;', /not ECMAScript 5/],
    ['fetch', 'fetch("/poll").then(function (r) { return r.json(); });', /uses fetch/],
    ['window.fetch', 'var f = window.fetch;', /uses fetch/],
    ['Promise', 'var p = new Promise(function (resolve) { resolve(1); });', /uses Promise/],
    ['WebSocket', 'var ws = new WebSocket("ws://x");', /uses WebSocket/],
    ['WebSocket by name', 'var ws = new window["WebSocket"]("ws://x");', /uses \.WebSocket/],
    ['innerHTML', 'div.innerHTML = message.body;', /uses \.innerHTML/],
    ['String#includes', 'if (s.includes("x")) {}', /uses \.includes/],
    ['eval (#13)', 'var v = eval("1 + 1");', /uses eval/],
    ['window.eval (#13)', 'var v = window.eval(code);', /uses eval/],
    ['new Function (#13)', 'var f = new Function("a", "return a");', /uses Function/],
    ['a string timer (#13)', 'setTimeout("poll()", 1000);', /string of code to setTimeout/],
    ['a built string timer (#13)', 'window.setInterval("tick(" + n + ")", 1000);', /string of code to setInterval/],
  ];
  for (const [what, source, expected] of mustFail) {
    it(`catches ${what}`, () => {
      const findings = checkEs5(source, 'bad.js');
      assert.ok(findings.length > 0, `expected a finding for: ${source}`);
      assert.match(findings.map((f) => f.problem).join('\n'), expected);
    });
  }
});
