import { describeFailure, transientFailure } from './projection-faults.js';

describe('what a projection fault records', () => {
  it('keeps identifiers PostgreSQL quotes and drops the values it quotes', () => {
    const notNull = Object.assign(new Error('null value in column "subject_kind" of relation "custos_rm_incidents" violates not-null constraint'), { code: '23502' });
    expect(describeFailure(notNull)).toEqual({ code: '23502', message: 'null value in column "subject_kind" of relation "custos_rm_incidents" violates not-null constraint' });
    const badUuid = Object.assign(new Error('invalid input syntax for type uuid: "Jane Roe"'), { code: '22P02' });
    expect(describeFailure(badUuid)).toEqual({ code: '22P02', message: 'invalid input syntax for type uuid: "…"' });
    const json = new SyntaxError('Unexpected token \'J\', "Jane Roe, 1970-01-01" is not valid JSON');
    expect(describeFailure(json).message).not.toMatch(/Jane|1970/);
    expect(describeFailure(json).code).toBe('SyntaxError');
  });

  it('finds the SQLSTATE under a driver error and bounds the message', () => {
    expect(describeFailure({ message: 'x', driverError: { code: '23505' } }).code).toBe('23505');
    expect(describeFailure(new Error('y'.repeat(2000))).message).toHaveLength(500);
  });

  it('tells failures that say nothing about the event (retried) from those that do (quarantined)', () => {
    for (const code of ['40001', '40P01', '57014', '08006', '53300', '42P01', '42501']) expect(transientFailure({ code })).toBe(true);
    for (const code of ['23502', '22P02', '23505']) expect(transientFailure({ code })).toBe(false);
    expect(transientFailure(new TypeError("Cannot read properties of undefined (reading 'kind')"))).toBe(false);
  });
});
