import { z } from 'zod';

/**
 * Building blocks for reading settings from the environment, shared by the core's configuration
 * and each adapter's: every value is a string in, a typed value out, and a bad one produces a
 * message saying what was expected.
 */

/** An optional string; empty counts as unset. */
export const optionalText = z
  .string()
  .trim()
  .transform((value) => (value === '' ? undefined : value))
  .optional();

export function integer(defaultValue: number, min: number, max: number) {
  return z
    .string()
    .trim()
    .default(String(defaultValue))
    .transform((value, context) => {
      const number = Number(value === '' ? defaultValue : value);
      if (!Number.isInteger(number) || number < min || number > max) {
        context.addIssue({
          code: 'custom',
          message: `expected a whole number from ${min} to ${max}, got "${value}"`,
        });
        return z.NEVER;
      }
      return number;
    });
}

export function httpUrl(defaultValue: string) {
  return z
    .string()
    .trim()
    .default(defaultValue)
    .transform((value, context) => {
      const text = value === '' ? defaultValue : value;
      try {
        const url = new URL(text);
        if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('protocol');
        return text.replace(/\/+$/, '');
      } catch {
        context.addIssue({ code: 'custom', message: `expected an http(s) URL, got "${value}"` });
        return z.NEVER;
      }
    });
}

/** An optional http(s) URL, without its trailing slash. */
export const optionalHttpUrl = optionalText.transform((value, context) => {
  if (value === undefined) return undefined;
  try {
    const url = new URL(value);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('protocol');
    return value.replace(/\/+$/, '');
  } catch {
    context.addIssue({ code: 'custom', message: `expected an http(s) URL, got "${value}"` });
    return z.NEVER;
  }
});

/**
 * An optional PostgreSQL connection URL (`postgres://user:password@host:5432/database?sslmode=…`).
 * A wrong one is refused without repeating it: it usually holds a password.
 */
export const optionalPostgresUrl = optionalText.transform((value, context) => {
  if (value === undefined) return undefined;
  let protocol = '';
  try {
    protocol = new URL(value).protocol;
  } catch {
    // Not a URL at all: the message below.
  }
  if (protocol === 'postgres:' || protocol === 'postgresql:') return value;
  context.addIssue({
    code: 'custom',
    message:
      'expected a postgres:// or postgresql:// URL (the value is not repeated: it may hold a password)',
  });
  return z.NEVER;
});

/** `true/false`, `yes/no`, `1/0`, `on/off`. */
export function boolean(defaultValue: boolean) {
  return z
    .string()
    .trim()
    .toLowerCase()
    .default(String(defaultValue))
    .transform((value, context) => {
      if (value === '') return defaultValue;
      if (['true', 'yes', '1', 'on'].includes(value)) return true;
      if (['false', 'no', '0', 'off'].includes(value)) return false;
      context.addIssue({ code: 'custom', message: `expected true or false, got "${value}"` });
      return z.NEVER;
    });
}

/** A comma-separated list; empty items dropped. */
export const list = z
  .string()
  .default('')
  .transform((value) =>
    value
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== ''),
  );

const DURATION_UNITS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/**
 * A duration: `90s`, `15m`, `2h`, `500ms`, or a bare number in `unit`. Returns milliseconds.
 */
export function duration(
  defaultValue: string,
  unit: 'ms' | 's' | 'm' | 'h' | 'd',
  minMs: number,
  maxMs: number,
) {
  return z
    .string()
    .trim()
    .toLowerCase()
    .default(defaultValue)
    .transform((value, context) => {
      const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(value === '' ? defaultValue : value);
      const amount = match
        ? Number(match[1]) * (DURATION_UNITS[match[2] ?? unit] ?? 1)
        : Number.NaN;
      if (!Number.isFinite(amount)) {
        context.addIssue({
          code: 'custom',
          message: `expected a duration such as 90s, 15m or 2h (a bare number is in ${unit}), got "${value}"`,
        });
        return z.NEVER;
      }
      // A well-formed duration out of range: say the range, or "5s" would look like a fine answer.
      if (amount < minMs || amount > maxMs) {
        context.addIssue({
          code: 'custom',
          message: `expected a duration from ${formatDuration(minMs)} to ${formatDuration(maxMs)}, got "${value}"`,
        });
        return z.NEVER;
      }
      return Math.round(amount);
    });
}

/** Milliseconds in the largest unit that divides them exactly: `10s`, `24h` → `1d`, `1500ms`. */
function formatDuration(milliseconds: number): string {
  if (milliseconds === 0) return '0s';
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = DURATION_UNITS[unit] ?? 1;
    if (milliseconds % size === 0) return `${milliseconds / size}${unit}`;
  }
  return `${milliseconds}ms`;
}

/** Turns zod's issues into `VARIABLE: what it expects` lines. */
export function describeIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
}
