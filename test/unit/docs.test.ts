// The documents say what the code does (issue #2): every setting is in the README's table with
// its real default, and every route is in docs/API.md.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT, SETTINGS } from '../../src/config';
import { settingsTable } from '../../src/config-docs';
import { createApp } from '../../src/server';
import { startApp } from '../support/app';

describe('documentation (unit, #2)', () => {
  it('README lists every setting with its default', () => {
    const readme = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
    const table = readme.slice(readme.indexOf('<!-- settings:start -->'), readme.indexOf('<!-- settings:end -->'));
    for (const s of SETTINGS) {
      const row = table.split('\n').find((l) => l.startsWith(`| \`${s.env}\` |`));
      assert.ok(row, `${s.env} is in the README table`);
      const shown = s.default === '' ? '(empty)' : `\`${s.default}\``;
      assert.ok(row.includes(`| ${shown} |`), `${s.env} default ${shown} in: ${row}`);
    }
    assert.equal(table, `<!-- settings:start -->\n${settingsTable()}\n`, 'README table is what `npm run docs:settings` writes');
  });

  it('docs/API.md documents every route', async () => {
    const api = fs.readFileSync(path.join(REPO_ROOT, 'docs', 'API.md'), 'utf8');
    const t = await startApp();
    try {
      const routes = new Set<string>();
      const { koa } = createApp({ core: t.core, logger: t.logger });
      for (const mw of koa.middleware as Array<{ router?: { stack: Array<{ path: string; methods: string[] }> } }>) {
        for (const layer of mw.router?.stack ?? []) {
          for (const m of layer.methods.filter((x) => x !== 'HEAD'))
            routes.add(`${m} ${layer.path.replace(/:(\w+)/g, (_, name: string) => (name === 'username' ? 'USERNAME' : 'ID'))}`);
        }
      }
      assert.ok(routes.size >= 10, `found ${routes.size} routes`);
      for (const r of routes) assert.ok(api.includes(`### \`${r}`), `docs/API.md has a heading for ${r}`);
    } finally {
      await t.close();
    }
  });
});
