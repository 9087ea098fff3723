// Property-based fuzzing of any method on any path (issue #6): known and unknown segments, dot
// segments, broken and encoded escapes, method overrides, junk and broken queries, every place a
// token can go. Never a 500, always the contract's shape (test/support/fuzz-contract.ts), and no
// path leaves public/. Afterwards the database holds exactly what was acknowledged (here: the
// seed messages).
//
// One of the endpoint fuzz tests (fuzz-*.test.ts); the generators are in test/support/fuzz.ts,
// the app and its ledger in fuzz-app.ts. FUZZ_SEED=<n> explores other cases, FUZZ_RUNS=<n>
// changes their number; a failure prints its seed and path.
import fc from 'fast-check';
import { authKind, junkQuery } from '../support/fuzz';
import { checkAcknowledged, useFuzzApp } from '../support/fuzz-app';
import { fuzzCheck } from '../support/fuzz-contract';
import { report } from './harness';

describe('faults: property-based fuzzing of any method on any path (#6)', function () {
  this.timeout(300_000);
  const f = useFuzzApp(report);

  it('any method on any path: never a 500, always the contract shape', async () => {
    let n = 0;
    const segment = fc.oneof(
      fc.constantFrom(
        'users',
        'sessions',
        'current',
        'devices',
        'messages',
        'conversations',
        'read',
        'poll',
        'presence',
        'healthz',
        'metrics',
        '..',
        '.',
        '%2e%2e',
        '%00',
        '%ZZ',
        '%ED%A0%80',
        '%E0%A4%A',
        'index.html',
        'app.js',
        'style.css',
        '..%2f..%2fpackage.json',
        '%2e%2e%2fdb',
        '..%5c..%5cpackage.json',
        'db',
        'src',
        'package.json',
        '',
      ),
      fc.string({ unit: 'binary-ascii', maxLength: 8 }).map((s) => encodeURIComponent(s)),
    );
    await fuzzCheck(
      fc.asyncProperty(
        fc.array(segment, { minLength: 1, maxLength: 4 }),
        fc.constantFrom('GET', 'POST', 'DELETE', 'PUT', 'PATCH', 'OPTIONS', 'HEAD'),
        fc.option(fc.constantFrom('DELETE', 'GET', 'PATCH', 'x'), { nil: undefined }),
        authKind.filter((k) => k !== 'body'),
        junkQuery,
        fc.option(
          fc.constantFrom(
            'since=%ED%A0%80',
            'with=%E0%A4%A',
            'limit=%',
            'callback=%ZZ',
            'access_token=%00',
            'a=%C0%AF',
            'since=1&since',
            '&&&',
            '=',
            'with=a%00b',
            'timeout=%2B5',
          ),
          { nil: undefined },
        ),
        async (segments, method, override, auth, q, rawQuery) => {
          const a = f.token(auth, f.alice);
          const headers = { ...a.headers };
          if (override) headers['X-HTTP-Method-Override'] = override;
          const path = `/${segments.join('/')}`;
          // Never log ourselves out here: that is the revocation test's business.
          if (/sessions|devices/i.test(path) && (method === 'DELETE' || override)) return;
          await f.fuzzer.exchange(`#${++n}`, {
            method,
            path,
            query: [...a.query, ...q],
            headers,
            body: method === 'POST' ? Buffer.from('{}') : undefined,
            rawQuery,
          });
        },
      ),
    );
  });

  it('afterwards: integrity_check passes and the database holds exactly what was acknowledged', async () => {
    report(await checkAcknowledged(f));
  });
});
