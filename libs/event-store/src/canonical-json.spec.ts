import { ValidationError } from '@custos/errors';
import fc from 'fast-check';
import { canonicalJson, type Json, toStorableJson } from './canonical-json.js';

describe('canonicalJson', () => {
  it('sorts keys recursively and writes no whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: null, y: true }], c: 'x' } })).toBe('{"a":{"c":"x","d":[3,{"y":true,"z":null}]},"b":1}');
  });

  it('gives the same bytes whatever order keys came in (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const v = toStorableJson(value);
        const reordered = JSON.parse(JSON.stringify(v, (_k, x: unknown) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).reverse()) : x))) as Json;
        expect(canonicalJson(reordered)).toBe(canonicalJson(v));
      }),
    );
  });
});

describe('toStorableJson', () => {
  it('turns dates into ISO strings and drops undefined properties, as JSON would', () => {
    expect(toStorableJson({ at: new Date('2026-01-01T00:00:00Z'), gone: undefined })).toEqual({ at: '2026-01-01T00:00:00.000Z' });
  });

  it.each([
    ['NaN', { n: Number.NaN }],
    ['Infinity', [Number.POSITIVE_INFINITY]],
    ['a NUL character', { s: 'a\u0000' }],
    ['a NUL key', { ['k\u0000']: 1 }],
    ['a bigint', { n: 1n }],
  ])('refuses %s with a ValidationError', (_name, value) => {
    expect(() => toStorableJson(value)).toThrow(ValidationError);
  });
});
