import winston from 'winston';

export type Logger = winston.Logger;

export interface LogOptions {
  level?: string;
  /** json in a cluster, readable text on a terminal */
  format?: 'json' | 'text';
  component?: string;
}

/** Structured logs: capitalised past-tense messages, with object kind and namespace/name as fields. */
export function createLogger(opts: LogOptions = {}): Logger {
  const format =
    opts.format === 'json'
      ? winston.format.combine(winston.format.timestamp(), winston.format.json())
      : winston.format.combine(
          winston.format.timestamp({ format: 'HH:mm:ss.SSS' }),
          winston.format.printf((info) => {
            const { level, message, timestamp, component, ...rest } = info;
            const fields = Object.entries(rest)
              .filter(([k]) => typeof k === 'string')
              .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
              .join(' ');
            return `${String(timestamp)} ${level.toUpperCase().padEnd(5)} ${typeof component === 'string' ? `[${component}] ` : ''}${String(message)}${fields ? ` ${fields}` : ''}`;
          }),
        );
  return winston.createLogger({
    level: opts.level ?? 'info',
    defaultMeta: opts.component ? { component: opts.component } : {},
    format,
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug', 'verbose', 'silly'] })],
  });
}

/** A logger that drops everything (unit tests). */
export function silentLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}
