// The settings table written out for people: `--help` (main.ts) and the README's configuration
// table (`npm run docs:settings`, checked by test/unit/docs.test.ts), both from SETTINGS, so
// neither can disagree with what loadConfig reads.
import { SETTINGS } from './config';

/** The text of `--help`: every setting with its default. */
export function configHelp(): string {
  const lines = ['Settings (environment variables):', ''];
  for (const s of SETTINGS) {
    lines.push(`  ${s.env.padEnd(22)} default: ${s.default === '' ? '(empty)' : s.default}`);
    lines.push(`  ${''.padEnd(22)} ${s.help}`);
  }
  return lines.join('\n');
}

/** The README's configuration table (Markdown), one row a setting. */
export function settingsTable(): string {
  const rows = ['| Variable | Default | Meaning |', '| --- | --- | --- |'];
  for (const s of SETTINGS) rows.push(`| \`${s.env}\` | ${s.default === '' ? '(empty)' : `\`${s.default}\``} | ${s.help} |`);
  return rows.join('\n');
}
