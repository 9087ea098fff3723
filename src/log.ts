// Structured logs: one JSON line per event, via pino. Level from configuration (LOG_LEVEL).
// Never log a token, a password or a message body: request logs carry method, route, status,
// duration and user only.
import pino from 'pino';
import type { LogLevel } from './config';

export type Logger = pino.Logger;

export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: undefined,
      // Belt and braces: if a caller ever logs a whole request or body, these never get out.
      redact: {
        paths: ['password', 'token', 'body', 'req.headers.authorization', '*.password', '*.token', '*.access_token'],
        censor: '[redacted]',
      },
    },
    destination,
  );
}
