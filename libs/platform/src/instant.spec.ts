import { ValidationError } from '@custos/errors';
import { parseInstant } from './instant.js';

describe('parseInstant', () => {
  it.each([
    ['2026-11-27', '2026-11-27T00:00:00.000Z'],
    ['2026-11-27T10:11:12Z', '2026-11-27T10:11:12.000Z'],
    ['2026-11-27T10:11:12.345+01:00', '2026-11-27T09:11:12.345Z'],
    ['2024-02-29T00:00Z', '2024-02-29T00:00:00.000Z'],
  ])('reads %s', (text, iso) => {
    expect(parseInstant('at', text).toISOString()).toBe(iso);
  });

  it.each(['2099-W01-1', '2026-001', '0000-01-01', '0003-01-01', '1899-12-31', '10000-01-01', '2026-02-30', '2026-13-01', '2026-11-27T24:00:00Z', '2026-11-27T10:00:00', '+275760-09-13', 'now', '', '2026-11-27T10:00:00+25:00', '1e999'])(
    'refuses %s with a 400',
    (text) => {
      expect(() => parseInstant('at', text)).toThrow(ValidationError);
    },
  );
});
