// npm run admin -- <command> [args]    (npm run admin -- --help)
// Administration on the database the server uses, safe while it runs: the SQLite file named by
// DB_PATH (SQLite's WAL lets this process write beside the server), or PostgreSQL when
// DATABASE_URL is set (#16). Either way the servers notice revoked devices within seconds
// (SQLite: data_version; PostgreSQL: every process's re-check, cluster/link.ts). backup and
// check work on SQLite files only (PostgreSQL has pg_dump and its own checks).
import fs from 'node:fs';
import path from 'node:path';
import { createUser, findUserOrThrow, normalizeUsername, resetPassword, revokeAllDevices, revokeDevice, setUserDisabled } from '../auth';
import { type Config, loadConfig } from '../config';
import { isAppError } from '../errors';
import { removeMember } from '../groups';
import { checkDatabaseFile, type FileCheck, openPostgresStore, openStore, PostgresStore, type SqliteStore, type Store } from '../store';
import { readPassword } from './prompt';
import { forTerminal, type Line, printer } from './terminal';

interface Ctx {
  config: Config;
  /** Prints a line, or a row of fields, escaped for the terminal (terminal.ts): all output goes here. */
  out: (line: Line) => void;
}

/** What a command that works on the database gets: the store, on DB_PATH or DATABASE_URL. */
interface StoreCtx extends Ctx {
  store: Store;
  /** The same store when it is SQLite (what only SQLite has: backups); undefined on PostgreSQL. */
  sqlite: SqliteStore | undefined;
}

interface CommandHelp {
  args: string;
  help: string;
}

type Command = CommandHelp &
  (
    | {
        /** The command opens the database itself (or not at all). */
        needsStore: false;
        run: (ctx: Ctx, args: string[]) => Promise<number> | number;
      }
    | {
        needsStore?: true;
        /** true: may create the database file (adding the first user before the first start). */
        createsDatabase?: boolean;
        run: (ctx: StoreCtx, args: string[]) => Promise<number> | number;
      }
  );

class UsageError extends Error {}

/**
 * The i-th argument. One that starts with '-' is an option given in its place (a name never
 * starts with one), except where `dashOk`: a device id is random base64url, and about one in 64
 * starts with '-'.
 */
function arg(args: string[], i: number, name: string, dashOk = false): string {
  const v = args[i];
  if (v === undefined || (!dashOk && v.startsWith('-'))) throw new UsageError(`missing ${name}`);
  return v;
}

function groupIdArg(args: string[], i: number): number {
  const v = arg(args, i, 'GROUP_ID');
  if (!/^[1-9]\d{0,15}$/.test(v) || !Number.isSafeInteger(Number(v))) throw new UsageError('GROUP_ID is a number (see list-groups)');
  return Number(v);
}

const iso = (ms: number | null): string => (ms === null ? '-' : new Date(ms).toISOString());

const COMMANDS: Record<string, Command> = {
  'add-user': {
    args: 'NAME',
    help: 'Add a user (works with SIGNUP_ENABLED=false). Password from a prompt, or the first line of stdin.',
    createsDatabase: true,
    async run({ store, config, out }, args) {
      const raw = arg(args, 0, 'NAME');
      const name = normalizeUsername(raw);
      if (!name) throw new UsageError('a username is 1 to 32 of a-z 0-9 _ . -');
      const password = await readPassword(`password for ${forTerminal(name)}: `);
      await createUser({ store, config }, name, password);
      out(`added user ${name}`);
      return 0;
    },
  },
  'reset-password': {
    args: 'NAME',
    help: 'Set a new password (prompt or stdin). Every device of the user is logged out.',
    async run({ store, config, out }, args) {
      const name = arg(args, 0, 'NAME');
      await findUserOrThrow({ store }, name); // fail before asking for a password
      const password = await readPassword(`new password for ${forTerminal(name)}: `);
      const { revoked } = await resetPassword({ store, config }, name, password);
      out(`password reset for ${name.toLowerCase()}; ${revoked} device(s) logged out`);
      return 0;
    },
  },
  'list-users': {
    args: '',
    help: 'List users: name, created, devices, disabled.',
    async run({ store, out }) {
      out(['USERNAME', 'CREATED', 'DEVICES', 'DISABLED']);
      for (const u of await store.listUsers()) out([u.username, iso(u.createdAt), String(u.devices), iso(u.disabledAt)]);
      return 0;
    },
  },
  'list-devices': {
    args: 'NAME',
    help: "List a user's devices: id, name, created, last seen.",
    async run({ store, out }, args) {
      const user = await findUserOrThrow({ store }, arg(args, 0, 'NAME'));
      out(['ID', 'NAME', 'CREATED', 'LAST_SEEN']);
      // Names are the clients' own: a tab, a newline or an escape sequence in one is printed
      // escaped, so the row stays one row and the terminal shows what is stored (#13).
      for (const d of await store.listDevices(user.id)) out([d.id, d.name, iso(d.createdAt), iso(d.lastSeenAt)]);
      return 0;
    },
  },
  'revoke-device': {
    args: 'NAME DEVICE_ID|--all',
    help: "Revoke one of a user's devices (or all): its token stops working; a running server answers its held polls within seconds.",
    async run({ store, out }, args) {
      const user = await findUserOrThrow({ store }, arg(args, 0, 'NAME'));
      if (args[1] === '--all') {
        out(`${await revokeAllDevices({ store }, user)} device(s) of ${user.username} revoked`);
        return 0;
      }
      const id = arg(args, 1, 'DEVICE_ID', true);
      try {
        await revokeDevice({ store }, { userId: user.id }, id);
      } catch (err) {
        if (!isAppError(err) || err.code !== 'not_found') throw err;
        out(`error: ${user.username} has no device ${id}`);
        return 1;
      }
      out(`device ${id} of ${user.username} revoked`);
      return 0;
    },
  },
  'disable-user': {
    args: 'NAME',
    help: 'Disable a user: every device is logged out and log-ins are refused. Messages stay.',
    async run({ store, config, out }, args) {
      const name = arg(args, 0, 'NAME');
      const { revoked } = await setUserDisabled({ store, config }, name, true);
      out(`${name.toLowerCase()} disabled; ${revoked} device(s) logged out`);
      return 0;
    },
  },
  'enable-user': {
    args: 'NAME',
    help: 'Enable a disabled user again.',
    async run({ store, config, out }, args) {
      const name = arg(args, 0, 'NAME');
      await setUserDisabled({ store, config }, name, false);
      out(`${name.toLowerCase()} enabled`);
      return 0;
    },
  },
  'list-groups': {
    args: '',
    help: 'List groups that still have members: id, name, owner, members, created.',
    async run({ store, out }) {
      out(['ID', 'NAME', 'OWNER', 'MEMBERS', 'CREATED']);
      // Names are the members' own: printed escaped, one row per group (#13).
      for (const g of await store.listGroups()) out([String(g.id), g.name, g.owner ?? '-', String(g.members), iso(g.createdAt)]);
      return 0;
    },
  },
  'show-group': {
    args: 'GROUP_ID',
    help: "A group's members in the order they joined (the first is the owner's successor).",
    async run({ store, out }, args) {
      const id = groupIdArg(args, 0);
      const members = await store.groupMembers(id);
      if (!members) {
        out(`error: no group ${id}`);
        return 1;
      }
      out(['USERNAME', 'JOINED']);
      for (const m of members) out([m.username, iso(m.joinedAt)]);
      return 0;
    },
  },
  'remove-member': {
    args: 'GROUP_ID NAME',
    help: "Remove a user from a group: the members (and the user) get the group's event as if the owner had done it; a running server delivers it at their next poll.",
    async run({ store, config, out }, args) {
      const id = groupIdArg(args, 0);
      const name = arg(args, 1, 'NAME');
      const group = await removeMember({ store, config }, null, id, name);
      out(`${name.toLowerCase()} removed from group ${id}; ${group.members.length} member(s) left`);
      return 0;
    },
  },
  backup: {
    args: 'FILE',
    help: 'Online backup of the database to FILE (safe while the server runs), then check the copy.',
    async run({ sqlite, out }, args) {
      if (!sqlite) throw new UsageError('backup is for SQLite (DB_PATH); with DATABASE_URL use pg_dump');
      const file = path.resolve(arg(args, 0, 'FILE'));
      if (fs.existsSync(file)) throw new UsageError(`${file} exists; choose a new file`);
      await sqlite.sqlite.backup(file);
      out(`backup written to ${file}`);
      return checkFile(file, out);
    },
  },
  'import-sqlite': {
    args: 'FILE',
    help: 'With DATABASE_URL: copy the SQLite database FILE (servers on it stopped) into the empty PostgreSQL database, then check counts and a sample.',
    async run({ store, out }, args) {
      if (!(store instanceof PostgresStore)) throw new UsageError('import-sqlite copies into PostgreSQL: set DATABASE_URL');
      const file = path.resolve(arg(args, 0, 'FILE'));
      if (!fs.existsSync(file)) throw new UsageError(`no such file: ${file}`);
      const r = await store.importSqlite(file);
      out(
        `copied ${Object.entries(r.counts)
          .map(([t, n]) => `${n} ${t}`)
          .join(', ')}`,
      );
      out(`checked: the same row counts in every table; ${r.sampled} message(s) compared field by field`);
      return 0;
    },
  },
  check: {
    args: '[FILE]',
    help: 'Check a SQLite database file (default: DB_PATH): integrity, schema version, counts.',
    needsStore: false,
    run({ config, out }, args) {
      return checkFile(args[0] ? path.resolve(args[0]) : config.dbPath, out);
    },
  },
};

/** Checks a copy or the live file without changing it; 0 when it is sound. */
function checkFile(file: string, out: (line: Line) => void): number {
  let r: FileCheck;
  try {
    r = checkDatabaseFile(file);
  } catch (err) {
    out(`error: ${file} cannot be read as a database: ${(err as Error).message}`);
    return 1;
  }
  out(`${file}: integrity ${r.integrity}, schema version ${r.schemaVersion}, ${r.users} user(s), ${r.messages} message(s)`);
  return r.integrity === 'ok' && r.schemaVersion > 0 ? 0 : 1;
}

function usage(): string {
  const lines = ['usage: npm run admin -- <command> [args]', '', 'commands:'];
  for (const [name, c] of Object.entries(COMMANDS)) {
    lines.push(`  ${`${name} ${c.args}`.padEnd(36)} ${c.help}`);
  }
  lines.push(
    '',
    'The database is DB_PATH (default db/chat.sqlite), or PostgreSQL when DATABASE_URL is set;',
    'see npm start -- --help for every setting.',
  );
  return lines.join('\n');
}

const out = printer(process.stdout);
const fail = printer(process.stderr);

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    fail(`unknown command: ${name}`);
    process.stderr.write(`\n${usage()}\n`);
    return 2;
  }
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`usage: npm run admin -- ${name} ${command.args}\n  ${command.help}\n`);
    return 0;
  }
  const config = loadConfig(process.env);
  try {
    if (command.needsStore === false) return await command.run({ config, out }, args);
    if (config.databaseUrl) {
      const store = await openPostgresStore(config.databaseUrl, { poolSize: 2 });
      try {
        return await command.run({ store, sqlite: undefined, config, out }, args);
      } finally {
        await store.close();
      }
    }
    if (!command.createsDatabase && !fs.existsSync(config.dbPath)) {
      // Opening would create an empty database: a mistyped DB_PATH would then look like a server
      // with no users, and later commands would write to the wrong file.
      fail(`error: no database at ${config.dbPath}; check DB_PATH (the server's, see npm start -- --help)`);
      return 1;
    }
    // Its commits sync themselves: a running server reads them at once (SqliteOptions.syncInCommit).
    const store = openStore(config.dbPath, { synchronous: config.dbSynchronous, syncInCommit: true });
    try {
      return await command.run({ store, sqlite: store, config, out }, args);
    } finally {
      await store.close();
    }
  } catch (err) {
    if (err instanceof UsageError) {
      fail(`error: ${err.message}`);
      fail(`usage: npm run admin -- ${name} ${command.args}`);
      return 2;
    }
    if (isAppError(err)) {
      fail(`error: ${err.message}`);
      return 1;
    }
    throw err;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    fail(`error: ${(err as Error).message}`);
    process.exit(1);
  },
);
