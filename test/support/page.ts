// The chat page's scripts as the browser gets them: the <script src> tags of public/index.html,
// in order. Used by the ES5 check (every script the browser runs is checked) and by the unit
// tests of the page's pure parts, which run the real files under Node.
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { REPO_ROOT } from './server';

export const PUBLIC_DIR = path.join(REPO_ROOT, 'public');
export const INDEX_HTML = path.join(PUBLIC_DIR, 'index.html');

/** The HTML without its comments (a commented-out tag is not loaded). */
export function htmlWithoutComments(html: string): string {
  return html.replace(/<!--[\s\S]*?-->/g, '');
}

/** The src of every <script src> in the HTML, in document order, as written. */
export function scriptSources(html: string): string[] {
  const out: string[] = [];
  const re = /<script\b([^>]*)>/gi;
  let m: RegExpExecArray | null;
  const clean = htmlWithoutComments(html);
  while ((m = re.exec(clean)) !== null) {
    const src = /\bsrc\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/i.exec(m[1] ?? '');
    if (src) out.push(src[1] ?? src[2] ?? src[3] ?? '');
  }
  return out;
}

/** The page's script files, absolute paths in the order index.html loads them. */
export function pageScriptFiles(): string[] {
  return scriptSources(fs.readFileSync(INDEX_HTML, 'utf8')).map((src) => path.join(PUBLIC_DIR, src));
}

/** The last script starts the page (it needs a document); the others only define things. */
export const BOOT_SCRIPT = path.join(PUBLIC_DIR, 'js', 'boot.js');

/** The namespace is untyped ES5: tests reach into it freely. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- an untyped ES5 namespace
export type Chat = any;

/**
 * Runs the page's scripts (all but the one that starts it) against a stand-in `window`, and
 * returns the namespace they built, window.Chat. Each script is compiled with node:vm as a
 * function of `window`, in this realm, so what it returns compares with assert's deep
 * equality; anything else it names (setTimeout, Math, JSON) is Node's own. `window` gets the
 * given members (say, a fake XMLHttpRequest); a fresh window and namespace each call.
 */
export function loadPage(members: Record<string, unknown> = {}): { window: Record<string, unknown>; Chat: Chat } {
  const window: Record<string, unknown> = { navigator: { userAgent: 'node', onLine: true }, ...members };
  const files = pageScriptFiles();
  if (files[files.length - 1] !== BOOT_SCRIPT) throw new Error(`index.html must load ${BOOT_SCRIPT} last`);
  for (const file of files.slice(0, -1)) {
    const run = vm.compileFunction(fs.readFileSync(file, 'utf8'), ['window'], { filename: file });
    run(window);
  }
  return { window, Chat: window.Chat };
}
