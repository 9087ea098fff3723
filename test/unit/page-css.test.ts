// public/style.css for old engines (#14): what Chromium cannot show. Every length in viewport
// units (vh, vw, vmin, vmax) comes after a fallback of the same property in the same rule, so
// an engine without them (old Android and iOS) keeps the fallback instead of dropping the
// declaration; every pane that scrolls inside has -webkit-overflow-scrolling: touch (iOS 5 to
// 12 scroll it with momentum, older ones get the page-scroll layout); and nothing the kiosks'
// old WebKit lacks is used (flexbox, grid, custom properties).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { PUBLIC_DIR } from '../support/page';

interface Rule {
  selector: string;
  declarations: Array<{ property: string; value: string }>;
}

/** The style rules of a stylesheet without comments; @media blocks are entered. */
function rules(css: string): Rule[] {
  const clean = css.replace(/\/\*[\s\S]*?\*\//g, '');
  const out: Rule[] = [];
  const re = /([^{}]+)\{([^{}]*)\}/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(clean)) !== null) {
    const selector = m[1]!.replace(/^[\s\S]*@media[^{]*$/, '').trim();
    const declarations = m[2]!
      .split(';')
      .map((d) => d.trim())
      .filter(Boolean)
      .map((d) => {
        const i = d.indexOf(':');
        return { property: d.slice(0, i).trim().toLowerCase(), value: d.slice(i + 1).trim() };
      });
    out.push({ selector, declarations });
  }
  return out;
}

const CSS = fs.readFileSync(path.join(PUBLIC_DIR, 'style.css'), 'utf8');
const VIEWPORT_UNIT = /\d(vh|vw|vmin|vmax)\b/;

describe("the page's stylesheet on old engines (#14)", () => {
  const all = rules(CSS);

  it('is read as rules (the checks below see the whole file)', () => {
    assert.ok(all.length > 100, `${all.length} rules`);
    assert.ok(all.some((r) => r.selector === '.auth-card'));
  });

  it('gives every viewport-unit length a fallback just before it, in the same rule', () => {
    let checked = 0;
    for (const rule of all) {
      rule.declarations.forEach((d, i) => {
        if (!VIEWPORT_UNIT.test(d.value)) return;
        checked++;
        const fallback = rule.declarations
          .slice(0, i)
          .reverse()
          .find((e) => e.property === d.property);
        assert.ok(
          fallback && !VIEWPORT_UNIT.test(fallback.value),
          `${rule.selector} { ${d.property}: ${d.value} } has no fallback before it`,
        );
      });
    }
    assert.ok(checked >= 2, 'the log-in card and the dialog use vh');
  });

  it('lets every pane that scrolls inside be scrolled with one finger on iOS (-webkit-overflow-scrolling: touch)', () => {
    let checked = 0;
    for (const rule of all) {
      const scrolls = rule.declarations.some((d) => /^overflow(-y)?$/.test(d.property) && /\b(auto|scroll)\b/.test(d.value));
      if (!scrolls) continue;
      checked++;
      assert.ok(
        rule.declarations.some((d) => d.property === '-webkit-overflow-scrolling' && d.value === 'touch'),
        `${rule.selector} scrolls without -webkit-overflow-scrolling: touch`,
      );
    }
    assert.ok(checked >= 4, `the list, the messages, the message box and the dialogs: ${checked}`);
  });

  it('has the page-scroll layout, where none of those panes scrolls inside', () => {
    const pageScroll = all.filter((r) => r.selector.includes('.page-scroll'));
    const overflowVisible = pageScroll.find(
      (r) => r.selector.includes('.messages') && r.declarations.some((d) => d.property === 'overflow' && d.value === 'visible'),
    );
    assert.ok(overflowVisible, 'the messages do not scroll inside in the page-scroll layout');
    assert.ok(
      pageScroll.some(
        (r) => r.selector.includes('.conv-scroll') && r.declarations.some((d) => d.property === 'overflow' && d.value === 'visible'),
      ),
    );
  });

  it("uses nothing the kiosks' old WebKit lacks: no flexbox, grid or custom properties", () => {
    for (const rule of all) {
      for (const d of rule.declarations) {
        assert.doesNotMatch(`${d.property}: ${d.value}`, /\b(flex|grid|inline-flex|inline-grid)\b|^--|var\(/, rule.selector);
      }
    }
  });
});
