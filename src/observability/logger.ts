import { pino, type Logger } from 'pino';

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'tenant-connect' },
    redact: { paths: ['req.headers.authorization', '*.client_secret', '*.clientSecret'], censor: '[redacted]' },
  });
}
