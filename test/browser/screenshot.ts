// Takes the README's screenshots of the chat page with a realistic conversation, at the three
// sizes it is tested at (#14): docs/screenshot.png (1280x800 desktop),
// docs/screenshot-kiosk.png (800x480 kiosk) and docs/screenshot-phone.png (375x667 phone).
// Run after a build: node dist/test/browser/screenshot.js [output directory]
// Starts its own server on a temporary database and stops it when done.
import path from 'node:path';
import { REPO_ROOT, startServer } from '../support/server';
import {
  apiCall,
  apiLogin,
  CHROMIUM,
  createUser,
  haveChromium,
  launchBrowser,
  logIn,
  openConversation,
  SIZES,
  type SizeName,
  waitForTexts,
} from './helpers';
import { sleep } from '../support/util';

const SHOTS: Array<{ size: SizeName; file: string }> = [
  { size: 'desktop', file: 'screenshot.png' },
  { size: 'kiosk', file: 'screenshot-kiosk.png' },
  { size: 'phone', file: 'screenshot-phone.png' },
];

async function main(): Promise<void> {
  if (!haveChromium()) throw new Error(`${CHROMIUM} not found`);
  const dir = process.argv[2] ?? path.join(REPO_ROOT, 'docs');
  const server = await startServer({ env: { PRESENCE_WINDOW: '1' } });
  const browser = await launchBrowser();
  try {
    for (const u of ['maria', 'tom', 'lena', 'sam', 'priya']) await createUser(server.url, u);
    const token: Record<string, string> = {};
    for (const u of ['maria', 'tom', 'lena', 'sam', 'priya']) token[u] = await apiLogin(server.url, u);
    const say = async (from: string, to: string, body: string) => {
      const res = await apiCall(server.url, 'POST', '/messages', { to, body }, token[from]);
      if (res.status !== 201) throw new Error(`send failed: ${JSON.stringify(res.body)}`);
    };
    await say('sam', 'maria', 'Parcel for room 12 is at the back office.');
    await say('maria', 'sam', 'Thanks, I will tell them.');
    await say('maria', 'maria', 'Ask facilities about the lift inspection on Friday');
    await say('priya', 'maria', 'Can you print the visitor list for tomorrow?');
    await say('maria', 'priya', 'Printed, it is in the tray.');
    const chat: [string, string, string][] = [
      ['tom', 'maria', 'Morning! The heating in the east wing is fixed.'],
      ['maria', 'tom', 'Great, thank you. Meeting room B is still cold though.'],
      ['tom', 'maria', 'I will have a look at B before 10.'],
      ['maria', 'tom', 'Perfect. The first visitors come at 10:30.'],
      ['tom', 'maria', 'Done: the valve was stuck.\nIt should be warm in 15 minutes.'],
      ['maria', 'tom', 'You are a star, thank you!'],
    ];
    for (const [from, to, body] of chat) await say(from, to, body);
    // A group (#15), with two messages Maria has not read yet.
    const team = await apiCall(server.url, 'POST', '/groups', { name: 'Front desk team', members: ['sam', 'maria'] }, token.priya);
    if (team.status !== 201) throw new Error(`group failed: ${JSON.stringify(team.body)}`);
    const teamChat: [string, string][] = [
      ['priya', 'The December rota is on the board.'],
      ['sam', 'Can someone swap Friday with me?'],
    ];
    for (const [from, body] of teamChat) {
      const res = await apiCall(server.url, 'POST', '/messages', { group: team.body.group.id, body }, token[from]);
      if (res.status !== 201) throw new Error(`send failed: ${JSON.stringify(res.body)}`);
    }
    await say('lena', 'maria', 'Are we still on for lunch?');
    await say('lena', 'maria', '12:30 at the usual place?');
    // Maria read her other conversations on another device.
    for (const other of ['sam', 'priya']) {
      const history = await apiCall(server.url, 'GET', `/messages?with=${other}`, undefined, token.maria);
      const last = history.body.messages[history.body.messages.length - 1];
      await apiCall(server.url, 'POST', '/read', { with: other, up_to: last.id }, token.maria);
    }
    // Tom and Lena are online: each holds a poll while the pictures are taken. The others
    // sent their messages more than PRESENCE_WINDOW (1 s here) ago, so they show as offline.
    await sleep(1500);
    const holding = new AbortController();
    for (const u of ['tom', 'lena']) {
      const head = await apiCall(server.url, 'GET', '/poll?timeout=0&limit=1000', undefined, token[u]);
      fetch(`${server.url}/poll?timeout=50&since=${head.body.cursor}`, {
        headers: { Authorization: `Bearer ${token[u]}` },
        signal: holding.signal,
      }).catch(() => undefined);
    }

    for (const shot of SHOTS) {
      const context = await browser.newContext({ viewport: SIZES[shot.size], deviceScaleFactor: 1 });
      const page = await context.newPage();
      await page.goto(server.url + '/');
      await logIn(page, 'maria', shot.size === 'phone' ? 'Phone' : 'Front desk kiosk');
      await page.waitForSelector('.conv[data-name="lena"] .badge');
      await openConversation(page, 'tom');
      await waitForTexts(
        page,
        chat.map((c) => c[2]),
      );
      await page.fill('#composer-input', 'See you at 10:30');
      await page.dispatchEvent('#composer-input', 'input');
      await page.waitForTimeout(300);
      const out = path.join(dir, shot.file);
      await page.screenshot({ path: out });
      console.log(`wrote ${out}`);
      await context.close();
    }
    holding.abort();
  } finally {
    await browser.close();
    await server.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
