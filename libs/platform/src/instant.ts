import { ValidationError } from '@custos/errors';

const INSTANT = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-](\d{2}):(\d{2})))?$/;

export const MIN_YEAR = 1900;
export const MAX_YEAR = 9999;

/**
 * Parses a calendar date (`2026-11-27`, midnight UTC) or an RFC 3339 instant
 * (`2026-11-27T10:00:00.000Z`, `…+01:00`) strictly: no week or ordinal dates, every field in
 * range (no 31 February), years 1900–9999 (PostgreSQL and every client agree on those).
 * Anything else is a 400 naming the field, never a RangeError.
 */
export function parseInstant(name: string, value: string): Date {
  const m = INSTANT.exec(value);
  const fail = () => new ValidationError(`${name} must be a date (YYYY-MM-DD) or an RFC 3339 instant between ${MIN_YEAR} and ${MAX_YEAR}`, { [name]: value.slice(0, 100) }, 'bad-instant');
  if (!m) throw fail();
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const [hour, minute, second] = [Number(m[4] ?? 0), Number(m[5] ?? 0), Number(m[6] ?? 0)];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (year < MIN_YEAR || year > MAX_YEAR || month < 1 || month > 12 || day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 59) throw fail();
  if (m[4] !== undefined && m[8] === undefined) throw fail();
  if (m[9] !== undefined && (Number(m[9]) > 23 || Number(m[10]) > 59)) throw fail();
  const date = new Date(m[4] === undefined ? `${m[1]}-${m[2]}-${m[3]}T00:00:00Z` : value);
  if (Number.isNaN(date.getTime())) throw fail();
  return date;
}

/** The same, for an optional query parameter. */
export function parseOptionalInstant(name: string, value: string | undefined): Date | undefined {
  return value === undefined ? undefined : parseInstant(name, value);
}
