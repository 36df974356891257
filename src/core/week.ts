/**
 * The ISO week, in UTC days: weeks start on Monday, as `/usage` counts them. Days are the
 * quota's `YYYY-MM-DD` strings (`utcDay`), so the week's images are a sum over a range of them.
 */

const DAY_MS = 86_400_000;

/** The Monday (`YYYY-MM-DD`, UTC) of the ISO week that holds `day` (itself `YYYY-MM-DD`). */
export function isoWeekStart(day: string): string {
  const time = Date.parse(`${day}T00:00:00Z`);
  if (Number.isNaN(time)) throw new RangeError(`Not a day: ${day}`);
  // getUTCDay: Sunday 0 … Saturday 6; days since Monday: Monday 0 … Sunday 6.
  const sinceMonday = (new Date(time).getUTCDay() + 6) % 7;
  return new Date(time - sinceMonday * DAY_MS).toISOString().slice(0, 10);
}
