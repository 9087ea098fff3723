// Who talks to whom in a seeded history, shared by the ceiling's seeding and ours so W4 probes
// the same shape on both: one conversation (users 0 and 1, the W4 probe pair) holds a tenth of
// all messages, so its history really is large; the rest are spread over every user.
export const PROBE_SHARE = 10;

export function seedPair(k: number, users: number): [number, number] {
  if (k % PROBE_SHARE === 0) return (k / PROBE_SHARE) % 2 === 0 ? [0, 1] : [1, 0];
  // A cheap integer hash (Knuth's multiplicative constant) spreads the rest without a PRNG state.
  const h = Math.imul(k, 2654435761) >>> 0;
  const a = h % users;
  const b = (a + 1 + ((h >>> 16) % (users - 1))) % users;
  return [a, b];
}
