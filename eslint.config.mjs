// ESLint for the whole repository (issue #12), run by `npm run lint` (and so by .ci/run).
// TypeScript (src/, test/, bench/): typescript-eslint's strict type-aware set with the
// project's own tsconfig.json; the page (public/): plain ES5 in a browser.
// Layout is Prettier's business (prettier.config.mjs): no rule here is about formatting.
//
// typescript-eslint reads the program through TypeScript's JavaScript API, which TypeScript 7
// (the compiler `npm run build` uses, the `typescript7` package) does not have yet: the
// `typescript` package is TypeScript 6 for typescript-eslint alone. Both read tsconfig.json.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'coverage/', 'db/', 'node_modules/'] },
  // A disable comment that no longer silences anything is an error: it would hide the next real one.
  { linterOptions: { reportUnusedDisableDirectives: 'error' } },
  {
    files: ['**/*.ts'],
    extends: [js.configs.recommended, ...tseslint.configs.strictTypeChecked],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // A number in a template string is how every log line and message here is written.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      // `(r) => setTimeout(r, ms)` and `return resolve(x)` as an early exit are the idiom of
      // this code base; the rule still catches a void result used as a value.
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true, ignoreVoidReturningFunctions: true }],
      // `[...s].length` counts code points on purpose: the contract's limits count code points
      // (a user-perceived character would be a grapheme, which no limit here is about).
      '@typescript-eslint/no-misused-spread': 'off',
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // Response bodies are parsed JSON typed `any` (supertest's res.body, support/client.ts)
      // and the assertions are what checks their shape; `rows[0]!` with noUncheckedIndexedAccess
      // fails the test as clearly as an assertion would. `any` itself still needs saying
      // (no-explicit-any stays on).
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    // An async function that awaits nothing is how a test or a benchmark subject satisfies a
    // Promise-returning signature (eventually(), accounts()); src/ keeps the rule.
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/require-await': 'off' },
  },
  {
    // One sleep and one freePort, in test/support/util.ts (issue #12): no copies, no inline
    // `new Promise((r) => setTimeout(r, ms))`.
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    ignores: ['test/support/util.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "NewExpression[callee.name='Promise'] > ArrowFunctionExpression > CallExpression.body[callee.name='setTimeout']",
          message: 'Use sleep() from test/support/util.ts.',
        },
        {
          selector: ':matches(FunctionDeclaration, VariableDeclarator)[id.name=/^(sleep|freePort)$/]',
          message: 'sleep and freePort live in test/support/util.ts: import them, do not copy them.',
        },
      ],
    },
  },
  {
    // The page: ES5 scripts for old browsers (test/unit/page-es5.test.ts checks the syntax and
    // the APIs; this adds undefined and unused names, unreachable code, duplicate keys...).
    files: ['public/**/*.js'],
    extends: [js.configs.recommended],
    languageOptions: { ecmaVersion: 5, sourceType: 'script', globals: globals.browser },
    // ES5 has no `catch {}`: an unused error binding cannot be left out.
    rules: { 'no-unused-vars': ['error', { caughtErrors: 'none' }] },
  },
  {
    files: ['**/*.mjs'],
    extends: [js.configs.recommended],
    languageOptions: { globals: globals.node },
  },
  {
    // Last, over every set above: Prettier breaks member chains as `t\n.http()\n[method](path)`,
    // which this rule reports though the meaning is the same (eslint-config-prettier turns it
    // off for that reason).
    rules: { 'no-unexpected-multiline': 'off' },
  },
);
