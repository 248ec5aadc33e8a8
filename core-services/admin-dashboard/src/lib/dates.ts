/** Timestamps are RFC 3339 UTC on the wire; people see them in their own time zone. */

/** Local midnight today and now, as RFC 3339 UTC strings (for "today" windows). */
export function todayWindow(now: Date = new Date()): { from: string; to: string } {
  const start = new Date(now.getFullYear(), now.getMonth(), now.getDate(), 0, 0, 0, 0);
  return { from: toRfc3339(start), to: toRfc3339(now) };
}

/** `Date` -> `2025-01-02T03:04:05Z` (no milliseconds: every RFC 3339 parser takes that). */
export function toRfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * The value of an `<input type="date">` (`YYYY-MM-DD`, local) as the start of that day in UTC;
 * with `endOfDay` the start of the next day (an exclusive upper bound).
 */
export function dateInputToRfc3339(value: string, endOfDay = false): string | undefined {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value.trim());
  if (!match) return undefined;
  const [, y, m, d] = match;
  const date = new Date(Number(y), Number(m) - 1, Number(d) + (endOfDay ? 1 : 0));
  if (Number.isNaN(date.getTime())) return undefined;
  return toRfc3339(date);
}

const formatter = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

/** A timestamp for display; the raw text when it cannot be read. */
export function formatDateTime(value: string | null | undefined): string {
  if (!value) return '—';
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? value : formatter.format(date);
}
