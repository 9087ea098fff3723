// npm run user:add -- NAME   (password from a prompt, or the first line of stdin)
// Adds a user while open sign-up is switched off. Safe while the server runs: SQLite's WAL
// lets this process write beside it.
import { createUser, normalizeUsername } from '../auth';
import { loadConfig } from '../config';
import { isAppError } from '../errors';
import { openStore } from '../store';
import { readPassword } from './prompt';

async function run(): Promise<number> {
  const raw = process.argv[2];
  if (!raw || raw === '--help' || raw === '-h') {
    process.stderr.write('usage: npm run user:add -- NAME   (password from a prompt or the first line of stdin)\n');
    return raw ? 0 : 2;
  }
  const username = normalizeUsername(raw);
  if (!username) {
    process.stderr.write('error: a username is 1 to 32 of a-z 0-9 _ . -\n');
    return 2;
  }
  const config = loadConfig(process.env);
  const password = await readPassword(`password for ${username}: `);
  const store = openStore(config.dbPath, { synchronous: config.dbSynchronous });
  try {
    await createUser({ store, config }, username, password);
    process.stdout.write(`added user ${username}\n`);
    return 0;
  } catch (err) {
    if (isAppError(err)) {
      process.stderr.write(`error: ${err.message}\n`);
      return 1;
    }
    throw err;
  } finally {
    store.close();
  }
}

run().then((code) => process.exit(code));
