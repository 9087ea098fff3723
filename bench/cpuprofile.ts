// Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time by function and by where the
// code lives (our src/, each package, Node's internals, native/GC), to write "where the time
// goes" in bench/README.md. Usage: node dist/bench/cpuprofile.js FILE [TOP]
import fs from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

function place(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1] ?? url;
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  const src = /\/dist\/(src\/.*)\.js$/.exec(url);
  if (src) return src[1] ?? url;
  return url.replace(/^file:\/\//, '');
}

function main(): void {
  const [file, topArg = '30'] = process.argv.slice(2);
  if (!file) throw new Error('usage: cpuprofile.js FILE [TOP]');
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    self.set(id, (self.get(id) ?? 0) + dt);
    total += dt;
  });
  const idle = [...self].filter(([id]) => byId.get(id)?.callFrame.functionName === '(idle)').reduce((a, [, t]) => a + t, 0);
  const busy = total - idle;
  const byFn = new Map<string, number>();
  const byPlace = new Map<string, number>();
  for (const [id, t] of self) {
    const n = byId.get(id);
    if (!n || n.callFrame.functionName === '(idle)') continue;
    const where = place(n.callFrame.url, n.callFrame.functionName);
    const fnKey = `${n.callFrame.functionName || '(anonymous)'}  ${where}:${n.callFrame.lineNumber + 1}`;
    byFn.set(fnKey, (byFn.get(fnKey) ?? 0) + t);
    byPlace.set(where, (byPlace.get(where) ?? 0) + t);
  }
  // Inclusive time of our own functions (src/): self plus everything they called, counted once
  // per sample even when a function is on the stack twice.
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const incl = new Map<string, number>();
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur);
      if (!n || !/\/dist\/src\//.test(n.callFrame.url)) continue;
      const key = `${n.callFrame.functionName || '(anonymous)'}  ${place(n.callFrame.url, '')}:${n.callFrame.lineNumber + 1}`;
      if (seen.has(key)) continue;
      seen.add(key);
      incl.set(key, (incl.get(key) ?? 0) + dt);
    }
  });
  const pct = (t: number) => `${((t / busy) * 100).toFixed(1).padStart(5)}%`;
  console.log(
    `profile ${(total / 1e6).toFixed(1)} s, busy ${(busy / 1e6).toFixed(1)} s (${((busy / total) * 100).toFixed(0)}%); shares below are of busy time`,
  );
  console.log('\nself time by place:');
  for (const [k, t] of [...byPlace].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`  ${pct(t)}  ${k}`);
  console.log('\ninclusive time of functions in src/:');
  for (const [k, t] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, Number(topArg))) console.log(`  ${pct(t)}  ${k}`);
  console.log('\nself time by function:');
  for (const [k, t] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, Number(topArg))) console.log(`  ${pct(t)}  ${k}`);
}
main();
