import { ValidationError } from '@custos/errors';

/** A JSON value as stored in a jsonb column. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * Turns any JSON-compatible value into the plain JSON Postgres will store (Dates become ISO
 * strings, undefined properties vanish), and refuses what jsonb cannot hold or would change:
 * non-finite numbers and U+0000 in strings. The result hashes the same before and after a
 * round trip through jsonb.
 */
export function toStorableJson(value: unknown, path = 'data'): Json {
  let normalised: unknown;
  try {
    normalised = JSON.parse(
      JSON.stringify(value ?? null, (_key, v: unknown) => {
        if (typeof v === 'number' && !Number.isFinite(v)) throw new ValidationError(`${path} holds a non-finite number`, { path });
        return v;
      }),
    );
  } catch (e) {
    if (e instanceof ValidationError) throw e;
    throw new ValidationError(`${path} is not JSON-serialisable`, { path });
  }
  check(normalised, path);
  return normalised as Json;
}

function check(value: unknown, path: string): void {
  if (value === null || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new ValidationError(`${path} holds a non-finite number`, { path });
    return;
  }
  if (typeof value === 'string') {
    if (value.includes('\u0000')) throw new ValidationError(`${path} holds a NUL character`, { path });
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((v, i) => check(v, `${path}[${i}]`));
    return;
  }
  if (typeof value === 'object') {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (k.includes('\u0000')) throw new ValidationError(`${path} has a key with a NUL character`, { path });
      check(v, `${path}.${k}`);
    }
    return;
  }
  throw new ValidationError(`${path} holds a value JSON cannot represent`, { path });
}

/**
 * Canonical JSON after RFC 8785 (JCS) for the values Custos stores: object keys sorted by
 * UTF-16 code units, no whitespace, numbers and strings as ECMAScript's JSON.stringify writes
 * them. The same value always gives the same bytes, whatever order its keys came in.
 */
export function canonicalJson(value: Json): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k] as Json)}`).join(',')}}`;
}
