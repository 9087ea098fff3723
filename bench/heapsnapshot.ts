// Summarises V8 .heapsnapshot files by constructor (count and shallow size), to see what a
// held poll keeps alive. With a baseline snapshot, shows the growth from it; with PER (the
// number of held polls), per poll.
// Usage: node dist/bench/heapsnapshot.js FILE [BASELINE|-] [PER|auto] [TOP]
import fs from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}
type Tally = Map<string, { n: number; size: number }>;

function tally(file: string): { by: Tally; total: number } {
  const s = JSON.parse(fs.readFileSync(file, 'utf8')) as Snapshot;
  const f = s.snapshot.meta.node_fields;
  const types = s.snapshot.meta.node_types[0];
  const width = f.length,
    iType = f.indexOf('type'),
    iName = f.indexOf('name'),
    iSize = f.indexOf('self_size');
  const by: Tally = new Map();
  let total = 0;
  for (let i = 0; i < s.nodes.length; i += width) {
    const type = types[s.nodes[i + iType] as number] ?? '?';
    const name = s.strings[s.nodes[i + iName] as number] ?? '?';
    const key = type === 'object' || type === 'native' ? name : type === 'closure' ? `closure ${name || '(anonymous)'}` : `(${type})`;
    const size = s.nodes[i + iSize] as number;
    total += size;
    const e = by.get(key) ?? { n: 0, size: 0 };
    e.n++;
    e.size += size;
    by.set(key, e);
  }
  return { by, total };
}

function main(): void {
  const [file, base = '-', perArg = '1', topArg = '30'] = process.argv.slice(2);
  if (!file) throw new Error('usage: heapsnapshot.js FILE [BASELINE|-] [PER] [TOP]');
  const now = tally(file);
  const before = base === '-' ? { by: new Map() as Tally, total: 0 } : tally(base);
  // auto: per held poll, counted as the growth in ServerResponse objects (one per open request).
  const count = (t: Tally) => t.get('ServerResponse')?.n ?? 0;
  const per = perArg === 'auto' ? Math.max(1, count(now.by) - count(before.by)) : Number(perArg);
  const rows = [...now.by].map(([k, e]) => {
    const b = before.by.get(k) ?? { n: 0, size: 0 };
    return { k, n: (e.n - b.n) / per, size: (e.size - b.size) / per };
  });
  console.log(
    `heap ${(now.total / 2 ** 20).toFixed(1)} MiB${base === '-' ? '' : `, baseline ${(before.total / 2 ** 20).toFixed(1)} MiB, growth ${((now.total - before.total) / per).toFixed(0)} B${per > 1 ? ` per poll (${per} polls)` : ''}`}`,
  );
  for (const r of rows.sort((a, b) => b.size - a.size).slice(0, Number(topArg))) {
    console.log(`  ${r.size.toFixed(0).padStart(10)} B  ${r.n.toFixed(2).padStart(10)} ×  ${r.k.slice(0, 90)}`);
  }
}
main();
