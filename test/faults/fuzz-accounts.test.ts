// Property-based fuzzing of the account endpoints (issue #6): sign-up, log-in and revoking a
// session or a device, with random and adversarial fields, every body encoding and every place a
// token can go. Every answer keeps the contract (test/support/fuzz-contract.ts); a sign-up or a
// log-in that is valid succeeds, tokens have the documented form, and only the caller's own
// device is ever revoked. Afterwards the database holds exactly the users answered 201.
//
// One of the endpoint fuzz tests (fuzz-*.test.ts); the generators are in test/support/fuzz.ts,
// the app and its ledger in fuzz-app.ts. FUZZ_SEED=<n> explores other cases, FUZZ_RUNS=<n>
// changes their number; a failure prints its seed and path.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { logIn } from '../support/app';
import { authKind, encoding, maybeNasty, nastyString, spoil, type Wire } from '../support/fuzz';
import { checkAcknowledged, useFuzzApp } from '../support/fuzz-app';
import { authenticated, fuzzCheck, RUNS, withBody } from '../support/fuzz-contract';
import { report } from './harness';

describe('faults: property-based fuzzing of the account endpoints (#6)', function () {
  this.timeout(300_000);
  const f = useFuzzApp(report);

  it('POST /users: signs up or refuses in the contract shape', async () => {
    let n = 0;
    await fuzzCheck(
      fc.asyncProperty(
        spoil('username', 'password', 'encoding'),
        fc.oneof(fc.stringMatching(/^[a-zA-Z0-9_.-]{1,32}$/), fc.constantFrom(f.alice.username, 'Alice')),
        fc.oneof(fc.constant('long enough password'), fc.string({ minLength: 8, maxLength: 20 }), fc.constant('😀'.repeat(256))),
        maybeNasty,
        maybeNasty,
        encoding,
        nastyString,
        async (bad, goodName, goodPassword, badName, badPassword, badEnc, garbage) => {
          const username = bad.has('username') ? badName : goodName;
          const password = bad.has('password') ? badPassword : goodPassword;
          const enc = bad.has('encoding') ? badEnc : 'json';
          const w = withBody('POST', '/users', { username, password }, enc, f.token('none', f.alice), garbage, undefined, []);
          const { res, json } = await f.fuzzer.exchange(`#${++n}`, w);
          if (res.status === 201) {
            const name = (json as { user: { username: string } }).user.username;
            assert.equal(name, String(username).toLowerCase());
            assert.ok(!f.users.has(name), 'a name signed up twice');
            f.users.add(name);
          }
          if (bad.size === 0 && res.status !== 201) assert.equal(res.status, 409, `a valid sign-up: ${res.status} ${res.text}`);
        },
      ),
    );
  });

  it('POST /sessions: logs in or refuses; tokens have the documented form', async () => {
    let n = 0;
    await fuzzCheck(
      fc.asyncProperty(
        spoil('username', 'password', 'device_name', 'encoding'),
        fc.constantFrom(f.alice.username, f.bob.username, f.alice.username.toUpperCase()),
        fc.option(fc.oneof(fc.string({ maxLength: 64 }), fc.constantFrom('kiosk', '  padded  ', 'x'.repeat(64))), { nil: undefined }),
        maybeNasty,
        maybeNasty,
        maybeNasty,
        encoding,
        nastyString,
        async (bad, goodName, goodDevice, badName, badPassword, badDevice, badEnc, garbage) => {
          const username = bad.has('username') ? badName : goodName;
          const password = bad.has('password') ? badPassword : 'correct horse';
          const deviceName = bad.has('device_name') ? badDevice : goodDevice;
          const enc = bad.has('encoding') ? badEnc : 'form';
          const w = withBody('POST', '/sessions', { username, password, device_name: deviceName }, enc, f.token('none', f.alice), garbage);
          const { res, json } = await f.fuzzer.exchange(`#${++n}`, w);
          if (res.status === 201) {
            const s = json as { token: string; device: { id: string; name: string }; cursor: string };
            assert.match(s.token, /^[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{43}$/);
            assert.equal(s.token.split('.')[0], s.device.id);
            assert.match(s.cursor, /^\d+$/);
            assert.ok(s.device.name.length > 0 && [...s.device.name].length <= 64);
            if (typeof deviceName === 'string' && deviceName.trim() && enc === 'json') assert.equal(s.device.name, deviceName.trim());
          }
          if (bad.size === 0) assert.equal(res.status, 201, `a valid log-in: ${res.status} ${res.text}`);
        },
      ),
    );
  });

  it("DELETE /sessions/current and DELETE /devices/:id: only the caller's own device is ever revoked", async () => {
    let n = 0;
    await fuzzCheck(
      fc.asyncProperty(
        fc.constantFrom('current', 'own-device', 'other-users-device', 'nasty'),
        nastyString,
        authKind,
        fc.constantFrom('DELETE', 'POST-override-header', 'POST-override-field'),
        encoding,
        async (target, nasty, auth, how, enc) => {
          // Fresh, disposable devices: the fuzz must not log out the devices it relies on.
          const mine = await logIn(f.t, f.alice.username, 'correct horse', 'disposable');
          const theirs = await logIn(f.t, f.bob.username, 'correct horse', 'not yours');
          const id =
            target === 'current'
              ? null
              : target === 'own-device'
                ? mine.deviceId
                : target === 'other-users-device'
                  ? theirs.deviceId
                  : nasty;
          const path = id === null ? '/sessions/current' : `/devices/${encodeURIComponent(id.toWellFormed())}`;
          const caller = target === 'own-device' ? f.alice : mine;
          let w: Wire;
          if (how === 'DELETE') {
            const a = f.token(auth === 'body' ? 'header' : auth, caller);
            w = { method: 'DELETE', path, query: a.query, headers: a.headers };
          } else {
            w = withBody(
              'POST',
              path,
              {},
              enc === 'garbage' || enc === 'json-array' ? 'json' : enc,
              f.token(auth, caller),
              '',
              how === 'POST-override-field' ? 'DELETE' : undefined,
            );
            if (how === 'POST-override-header') w.headers['X-HTTP-Method-Override'] = 'DELETE';
          }
          const { res } = await f.fuzzer.exchange(`#${++n} ${target} ${how} ${auth}`, w);
          const theirsWorks = (await f.t.http().get('/devices').set(theirs.auth)).status === 200;
          assert.ok(theirsWorks, "another user's device was revoked");
          const mineWorks = (await f.t.http().get('/devices').set(mine.auth)).status === 200;
          if (res.status === 204) assert.ok(target === 'current' || target === 'own-device', `204 for ${target}`);
          if (target === 'other-users-device' && authenticated(auth)) assert.equal(res.status, 404);
          assert.equal(mineWorks, res.status !== 204, 'the disposable device was revoked exactly when 204 said so');
          await f.t.http().delete('/sessions/current').set(theirs.auth);
          if (mineWorks) await f.t.http().delete('/sessions/current').set(mine.auth);
        },
      ),
      Math.ceil(RUNS / 2),
    );
  });

  it('afterwards: integrity_check passes and the database holds exactly what was acknowledged', async () => {
    report(await checkAcknowledged(f));
  });
});
