import { DefaultLogger, type LogLevel, Runtime } from '@temporalio/worker';

let installed = false;

/**
 * SDK messages that are expected in eas and only alarm users: a training worker runs activities only, by design, so
 * "No workflows registered" says nothing wrong.
 */
const HIDDEN = [/^No workflows registered/];

/**
 * One short line per log entry (time, level, message, and which activity or workflow it is about) instead of the
 * SDK's multi-line metadata dump. `level` defaults to EAS_LOG_LEVEL, else the given default.
 */
export function installCompactLogging(defaultLevel: LogLevel): void {
  if (installed) return;
  installed = true;
  const level = (process.env.EAS_LOG_LEVEL?.toUpperCase() as LogLevel | undefined) ?? defaultLevel;
  Runtime.install({
    logger: new DefaultLogger(level, (entry) => {
      if (HIDDEN.some((re) => re.test(entry.message))) return;
      const meta = entry.meta ?? {};
      const where = (meta.activityType as string | undefined) ?? (meta.workflowType as string | undefined) ?? (meta.sdkComponent as string | undefined) ?? '';
      const time = new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString().slice(11, 19);
      const attempt = typeof meta.attempt === 'number' && meta.attempt > 1 ? ` attempt ${meta.attempt}` : '';
      const err = meta.error instanceof Error ? `: ${meta.error.message}` : '';
      process.stderr.write(`${time} ${entry.level.padEnd(5)} ${entry.message}${err}${where ? ` (${where}${attempt})` : ''}\n`);
    }),
  });
}
