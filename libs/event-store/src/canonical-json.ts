import { ValidationError } from '@custos/errors';

/** A JSON value as stored in a jsonb column. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * Turns any JSON-compatible value into the plain JSON Postgres will store (Dates become ISO
 * strings, undefined properties vanish), and refuses what jsonb cannot hold or would change:
 * non-finite numbers, U+0000 and lone surrogates in strings (PostgreSQL refuses both). The result hashes the same before and after a
 * round trip through jsonb.
 */
export function toStorableJson(value: unknown, path = 'data'): Json {
  return normalise(value === undefined ? null : value, path);
}

/** In a `u` regex a lone surrogate is a code point of its own (category Cs); a valid pair is not. */
export const LONE_SURROGATE = /\p{Cs}/u;

/** Whether `text` can be stored and hashed as is: well-formed Unicode, no NUL. */
export function isStorableText(text: string): boolean {
  return !text.includes('\u0000') && !LONE_SURROGATE.test(text);
}

/** One walk that validates and copies, with JSON.stringify's rules (toJSON, undefined, arrays). */
function normalise(value: unknown, path: string): Json {
  if (value === null) return null;
  switch (typeof value) {
    case 'boolean':
      return value;
    case 'number':
      if (!Number.isFinite(value)) throw new ValidationError(`${path} holds a non-finite number`, { path });
      return value === 0 ? 0 : value; // -0 is stored as 0
    case 'string':
      if (value.includes('\u0000')) throw new ValidationError(`${path} holds a NUL character`, { path }, 'ill-formed-text');
      if (LONE_SURROGATE.test(value)) throw new ValidationError(`${path} is not well-formed Unicode (a lone surrogate)`, { path }, 'ill-formed-text');
      return value;
    case 'object': {
      const withToJson = value as { toJSON?: () => unknown };
      if (typeof withToJson.toJSON === 'function') return normalise(withToJson.toJSON(), path);
      if (Array.isArray(value)) {
        return value.map((v, i) => (v === undefined || typeof v === 'function' || typeof v === 'symbol' ? null : normalise(v, `${path}[${i}]`)));
      }
      const out: Record<string, Json> = {};
      for (const key of Object.keys(value)) {
        const v = (value as Record<string, unknown>)[key];
        if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
        if (key.includes('\u0000') || LONE_SURROGATE.test(key)) throw new ValidationError(`${path} has a key that is not well-formed text`, { path }, 'ill-formed-text');
        out[key] = normalise(v, `${path}.${key}`);
      }
      return out;
    }
    default:
      throw new ValidationError(`${path} holds a value JSON cannot represent`, { path });
  }
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
