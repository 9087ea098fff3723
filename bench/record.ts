// Where a benchmark's run is kept, the same for every benchmark (run.ts, w5.ts, cluster.ts): its
// table and its data in bench/results/, and the table in bench/README.md between its markers.
import fs from 'node:fs';
import path from 'node:path';

/**
 * Writes `md` to bench/results/NAME.md and `data` as JSON to NAME.json; with `readmeMarker`,
 * also replaces what stands between `<!-- MARKER:begin -->` and `<!-- MARKER:end -->` in
 * bench/README.md with `md` (nothing when the README or its markers are missing).
 */
export function recordRun(repo: string, name: string, md: string, data: unknown, readmeMarker?: string): void {
  const outDir = path.join(repo, 'bench', 'results');
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, `${name}.md`), md);
  fs.writeFileSync(path.join(outDir, `${name}.json`), `${JSON.stringify(data, null, 2)}\n`);
  const readme = path.join(repo, 'bench', 'README.md');
  if (readmeMarker === undefined || !fs.existsSync(readme)) return;
  const text = fs.readFileSync(readme, 'utf8');
  const re = new RegExp(`(<!-- ${readmeMarker}:begin -->\\n)[\\s\\S]*?(<!-- ${readmeMarker}:end -->)`);
  if (re.test(text))
    fs.writeFileSync(
      readme,
      text.replace(re, (_all, begin: string, end: string) => `${begin}${md}${end}`),
    );
}
