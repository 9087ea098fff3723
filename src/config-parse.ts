// How one setting's text becomes its value: the parsers the settings table in config.ts uses,
// each failing with a ConfigError that names the variable. Split from config.ts (issue #12) so
// that file is the table and loadConfig alone; nothing here reads the environment.

/** At most `points` in `windowS` seconds; null when the limit is switched off. */
export type RateRule = { points: number; windowS: number } | null;

export type Parser<T> = (raw: string, name: string) => T;

export class ConfigError extends Error {}

export function integer(min: number, max: number): Parser<number> {
  return (raw, name) => {
    const s = raw.trim();
    if (!/^-?\d+$/.test(s)) throw new ConfigError(`${name} must be a whole number, got "${raw}"`);
    const n = Number(s);
    if (n < min || n > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${n}`);
    return n;
  };
}

/** Seconds in the environment (what operators think in), milliseconds inside. */
export function seconds(min: number, max: number): Parser<number> {
  const int = integer(min, max);
  return (raw, name) => int(raw, name) * 1000;
}

export function bool(raw: string, name: string): boolean {
  const s = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(s)) return true;
  if (['0', 'false', 'no', 'off'].includes(s)) return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
}

export function oneOf<T extends string>(values: readonly T[], upper: boolean): Parser<T> {
  return (raw, name) => {
    const s = upper ? raw.trim().toUpperCase() : raw.trim().toLowerCase();
    const hit = values.find((v) => v === s);
    if (hit === undefined) throw new ConfigError(`${name} must be one of ${values.join(', ')}, got "${raw}"`);
    return hit;
  };
}

export function text(raw: string): string {
  return raw.trim();
}

/** A URL with one of these schemes, or empty (the feature off). */
export function urlOf(schemes: readonly string[]): Parser<string> {
  return (raw, name) => {
    const s = raw.trim();
    if (!s) return '';
    let scheme: string;
    try {
      scheme = new URL(s).protocol.replace(/:$/, '');
    } catch {
      throw new ConfigError(`${name} must be a URL like ${schemes[0]}://host/name, or empty`);
    }
    if (!schemes.includes(scheme))
      throw new ConfigError(`${name} must start with ${schemes.map((x) => `${x}://`).join(' or ')}, got "${scheme}://"`);
    return s;
  };
}

export function nonEmpty(raw: string, name: string): string {
  const s = raw.trim();
  if (!s) throw new ConfigError(`${name} must not be empty`);
  return s;
}

export function byteSize(raw: string, name: string): number {
  const m = /^(\d+)\s*(b|kb|kib|mb|mib)?$/i.exec(raw.trim());
  if (!m || m[1] === undefined) throw new ConfigError(`${name} must be a size like 65536 or 64kb, got "${raw}"`);
  const unit = (m[2] ?? 'b').toLowerCase();
  const mult = unit.startsWith('k') ? 1024 : unit.startsWith('m') ? 1024 * 1024 : 1;
  const n = Number(m[1]) * mult;
  if (n < 1024 || n > 16 * 1024 * 1024) throw new ConfigError(`${name} must be between 1kb and 16mb, got "${raw}"`);
  return n;
}

const DURATION_UNITS_S: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400 };

/**
 * A span of time like 90d, 12h, 30m or 45s (a bare number is seconds), as milliseconds; 0 or
 * off switches the feature off (0).
 */
export function duration(minS: number, maxS: number): Parser<number> {
  return (raw, name) => {
    const s = raw.trim().toLowerCase();
    if (s === '0' || s === 'off') return 0;
    const m = /^(\d{1,9})\s*([smhd]?)$/.exec(s);
    if (!m || m[1] === undefined) throw new ConfigError(`${name} must be a time like 90d, 12h, 30m or 45s, or off, got "${raw}"`);
    const seconds = Number(m[1]) * (DURATION_UNITS_S[m[2] || 's'] ?? 1);
    if (seconds < minS || seconds > maxS) {
      throw new ConfigError(`${name} must be between ${minS} s and ${maxS / 86_400} days (or off), got "${raw}"`);
    }
    return seconds * 1000;
  };
}

export function rate(raw: string, name: string): RateRule {
  const s = raw.trim().toLowerCase();
  if (s === '0' || s === 'off') return null;
  const m = /^(\d{1,9})\s*\/\s*(\d{1,7})$/.exec(s);
  if (!m || !Number(m[1]) || !Number(m[2])) {
    throw new ConfigError(`${name} must be COUNT/SECONDS (like 10/300) or off, got "${raw}"`);
  }
  return { points: Number(m[1]), windowS: Number(m[2]) };
}
