// Prettier (issue #12), checked by `npm run lint`. The options are the code's own style: single
// quotes, trailing commas, long lines (140: most lines were written up to about that width,
// and a narrower width rewraps far more of the code). What Prettier does not format is listed,
// with the reason, in .prettierignore.
export default {
  printWidth: 140,
  singleQuote: true,
  trailingComma: 'all',
  overrides: [
    {
      // ES5: a trailing comma after the last argument is ES2017 syntax.
      files: 'public/**/*.js',
      options: { trailingComma: 'none' },
    },
  ],
};
