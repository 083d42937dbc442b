import { ValidationError } from '@custos/errors';
import { checkInput, MAX_JSON_DEPTH } from './input-guard.js';

function nested(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { a: v };
  return v;
}

describe('checkInput', () => {
  it(`accepts JSON nested ${MAX_JSON_DEPTH} deep and refuses ${MAX_JSON_DEPTH + 1}`, () => {
    expect(() => checkInput(nested(MAX_JSON_DEPTH), 'body')).not.toThrow();
    expect(() => checkInput(nested(MAX_JSON_DEPTH + 1), 'body')).toThrow(expect.objectContaining({ code: 'too-deeply-nested' }));
  });

  it('refuses 49,000 levels quickly, without recursion', () => {
    const deep = JSON.parse('['.repeat(49_000) + ']'.repeat(49_000));
    const t0 = process.hrtime.bigint();
    expect(() => checkInput(deep, 'body')).toThrow(ValidationError);
    expect(Number(process.hrtime.bigint() - t0) / 1e6).toBeLessThan(1000); // a bound against quadratic work, not a benchmark
  });

  it.each([
    ['a lone high surrogate', { reason: 'patient unconscious \ud800 in ER bay 3' }],
    ['a lone low surrogate in an array', { list: ['ok', '\udc00'] }],
    ['NUL', { s: 'a\u0000b' }],
    ['a bad key', { ['k\ud800']: 1 }],
  ])('refuses %s as ill-formed text', (_name, value) => {
    expect(() => checkInput(value, 'body')).toThrow(expect.objectContaining({ code: 'ill-formed-text' }));
  });

  it.each([
    ['__proto__ at the top', JSON.parse('{"__proto__": {"admin": true}}') as unknown],
    ['__proto__ deep in an array', JSON.parse('{"a": [{"b": {"__proto__": 1}}]}') as unknown],
    ['constructor.prototype', JSON.parse('{"constructor": {"prototype": {"admin": true}}}') as unknown],
    ['constructor as plain data', { constructor: 'a' }],
  ])('refuses %s as a forbidden key', (_name, value) => {
    expect(() => checkInput(value, 'body')).toThrow(expect.objectContaining({ code: 'forbidden-key' }));
  });

  it('accepts well-formed text outside the BMP', () => {
    expect(() => checkInput({ s: 'smile 😀 and ünïcödé' }, 'body')).not.toThrow();
  });
});
