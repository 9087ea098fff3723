// Promises from synchronous work: better-sqlite3 answers at once, the Store interface in
// promises (the PostgreSQL backend needs them), so the SQLite store hands back settled ones.

/** What was thrown, as the Error a rejection carries (everything thrown here already is one). */
export function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** A settled promise of what `fn` returns, or of what it throws. */
export function settled<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (err) {
    return Promise.reject(asError(err));
  }
}
