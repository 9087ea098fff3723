// Structured logs: one JSON line per event, via pino. Level from configuration (LOG_LEVEL).
// Never log a token, a password or a message body: request lines carry method, route, status,
// duration and user only, and unexpected errors only their message and stack (never the error
// object's other fields: a body parser's error carries the raw body).
import fs from 'node:fs';
import pino from 'pino';
import type { LogLevel } from './config';

export type Logger = pino.Logger;

/** Bytes of log lines gathered before one write: a write per request was 6% of a busy server. */
const LOG_BUFFER_BYTES = 8192;
/** Longest a line waits in that buffer on a quiet server. */
const LOG_FLUSH_MS = 500;

type SonicBoom = ReturnType<typeof pino.destination>;

/**
 * Lines gathered in an array and handed to sonic-boom (pino's writer to a file descriptor)
 * LOG_BUFFER_BYTES at a time. sonic-boom buffers too, but by appending each line to a string and
 * measuring that string's UTF-8 length again, per line: about 2.5 µs a line with an 8 KiB buffer,
 * more than pino takes to make the line (bench/README.md, #18). It still does the writing: partial
 * writes, EAGAIN on a full pipe, the synchronous flush on exit.
 */
class BatchedLines implements pino.DestinationStream {
  private lines: string[] = [];
  private chars = 0;

  constructor(private readonly out: SonicBoom) {}

  write(line: string): void {
    this.lines.push(line);
    this.chars += line.length;
    if (this.chars >= LOG_BUFFER_BYTES) this.handOver();
  }

  /** What is gathered goes to sonic-boom, which writes it as soon as its last write is done. */
  private handOver(): void {
    const text = this.take();
    if (text) this.out.write(text);
  }

  /** What is gathered, as one text, no longer kept here. */
  take(): string {
    if (this.lines.length === 0) return '';
    const text = this.lines.join('');
    this.lines = [];
    this.chars = 0;
    return text;
  }

  /** pino's logger.flush(). */
  flush(cb?: (err?: Error) => void): void {
    this.handOver();
    this.out.flush(cb);
  }
}

/**
 * @param destination where lines go (tests capture them); default stdout, buffered and
 *   written asynchronously, flushed at least every LOG_FLUSH_MS. Call `flushLogs` before
 *   exiting.
 */
export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  if (destination) return pino({ level, base: undefined }, destination);
  const stdout = pino.destination({ dest: 1, sync: false });
  const lines = new BatchedLines(stdout);
  setInterval(() => lines.flush(), LOG_FLUSH_MS).unref();
  // On exit sonic-boom writes what it holds (pino registers that), synchronously; what is still
  // gathered here follows it, written directly: handed to sonic-boom it would start a write of
  // its own that the exiting process never finishes.
  process.once('exit', () => {
    const rest = lines.take();
    try {
      stdout.flushSync();
      if (rest) fs.writeSync(1, rest);
    } catch {
      // stdout gone: nothing left to tell
    }
  });
  return pino({ level, base: undefined }, lines);
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
