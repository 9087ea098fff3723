// npm run docs:settings — rewrites the configuration table in README.md from src/config.ts's
// SETTINGS (through config-docs.ts), so the table, --help and the code cannot disagree
// (test/unit/docs.test.ts checks it).
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT, SETTINGS } from '../config';
import { settingsTable } from '../config-docs';

const START = '<!-- settings:start -->';
const END = '<!-- settings:end -->';
const file = path.join(REPO_ROOT, 'README.md');
const readme = fs.readFileSync(file, 'utf8');
const a = readme.indexOf(START);
const b = readme.indexOf(END);
if (a < 0 || b < a) throw new Error(`README.md needs ${START} ... ${END}`);
fs.writeFileSync(file, `${readme.slice(0, a + START.length)}\n${settingsTable()}\n${readme.slice(b)}`);
process.stdout.write(`README.md: ${SETTINGS.length} settings\n`);
