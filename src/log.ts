// Structured logs: one JSON line per event, via pino. Level from configuration (LOG_LEVEL).
// Never log a token, a password or a message body: request lines carry method, route, status,
// duration and user only, and unexpected errors only their message and stack (never the error
// object's other fields: a body parser's error carries the raw body).
import pino from 'pino';
import type { LogLevel } from './config';

export type Logger = pino.Logger;

/** Bytes of log lines gathered before one write: a write per request was 6% of a busy server. */
const LOG_BUFFER_BYTES = 8192;
/** Longest a line waits in that buffer on a quiet server. */
const LOG_FLUSH_MS = 500;

/**
 * @param destination where lines go (tests capture them); default stdout, buffered and
 *   written asynchronously, flushed at least every LOG_FLUSH_MS. Call `flushLogs` before
 *   exiting.
 */
export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  if (destination) return pino({ level, base: undefined }, destination);
  const stdout = pino.destination({ dest: 1, sync: false, minLength: LOG_BUFFER_BYTES });
  setInterval(() => stdout.flush(), LOG_FLUSH_MS).unref();
  return pino({ level, base: undefined }, stdout);
}

/** Writes out buffered lines (before process.exit). */
export function flushLogs(logger: Logger): void {
  try {
    logger.flush();
  } catch {
    // stdout gone: nothing left to tell
  }
}

/** What may be logged of an unexpected error. */
export function errorFields(err: unknown): { type: string; message: string; stack?: string } {
  if (err instanceof Error) return { type: err.name, message: err.message, stack: err.stack };
  return { type: typeof err, message: String(err) };
}
