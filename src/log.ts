// Structured logs: one JSON line per event, via pino. Level from configuration (LOG_LEVEL).
// Never log a token, a password or a message body: request lines carry method, route, status,
// duration and user only, and unexpected errors only their message and stack (never the error
// object's other fields: a body parser's error carries the raw body).
import pino from 'pino';
import type { LogLevel } from './config';

export type Logger = pino.Logger;

/**
 * @param destination where lines go (tests capture them); default stdout, written
 *   asynchronously so a busy server does not wait for a pipe on every request. Call
 *   `flushLogs` before exiting.
 */
export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  return pino({ level, base: undefined }, destination ?? pino.destination({ dest: 1, sync: false }));
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
