// Cursors are opaque to clients: they send back what they were given. Inside, a cursor is a
// position in the caller's own event stream (0 = before the first event). Written as plain
// digits so a curl user can read it; parsed strictly so nothing odd reaches a query.
import { Errors } from './errors';

export function formatCursor(seq: number): string {
  return String(seq);
}

/**
 * Throws invalid_cursor for anything that is not a cursor this server could have issued: no
 * leading zeros either, so the cursor of an answer is always the very string that was sent.
 */
export function parseCursor(raw: string): number {
  if (!/^(0|[1-9]\d{0,14})$/.test(raw)) throw Errors.invalidCursor('the cursor is malformed; send back a cursor the server gave you');
  return Number(raw);
}
