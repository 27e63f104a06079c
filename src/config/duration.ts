import ms, { type StringValue } from 'ms';
import { z } from 'zod';

/**
 * A positive, finite duration in the `ms` package's format ("30s", "5m", "2h", "7d", "1.5h", "500ms"), the format
 * Temporal reads for its timeouts and retry intervals. Parsed here, at the boundary, so that a typo ("forever") or a
 * negative value ("-5m") is a config error naming the field instead of a workflow task that fails and retries.
 */
export function parseDuration(text: string): number | string {
  let millis: number;
  try {
    millis = ms(text as StringValue);
  } catch {
    millis = NaN;
  }
  if (!Number.isFinite(millis)) return `"${text}" is not a duration; write a number and a unit, e.g. "30s", "5m", "2h" or "7d"`;
  if (millis <= 0) return `"${text}" must be longer than 0`;
  return millis;
}

export const DurationSchema = z
  .string({ error: 'expected a duration string such as "30s", "5m", "2h" or "7d"' })
  .superRefine((text, ctx) => {
    const r = parseDuration(text);
    if (typeof r === 'string') ctx.addIssue({ code: 'custom', message: r });
  })
  .transform((text) => text as StringValue);

export const durationMs = (d: StringValue): number => ms(d);
