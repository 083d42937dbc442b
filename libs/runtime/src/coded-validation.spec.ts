import { ArrayMinSize, IsArray, IsString, ValidateNested } from 'class-validator';
import { Type } from 'class-transformer';
import { CustosError } from '@custos/errors';
import { HttpException } from '@nestjs/common';
import { CodedValidationPipe } from './http.js';

class Inner {
  @IsString({ context: { code: 'bad-inner' } }) name!: string;
}

class Body {
  @IsArray() @ArrayMinSize(1, { context: { code: 'bad-list' } }) list!: string[];
  @ValidateNested() @Type(() => Inner) inner!: Inner;
}

const pipe = new CodedValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true });
const refusal = async (value: object): Promise<unknown> => pipe.transform(value, { type: 'body', metatype: Body }).then(() => undefined, (e: unknown) => e);
const codeOf = (e: unknown) => (e instanceof CustosError ? e.code : e instanceof HttpException ? 'validation-failed' : String(e));

describe('CodedValidationPipe: a rule may name the code its failure answers with', () => {
  it('answers the code every failing rule names, else validation-failed, with the same messages', async () => {
    expect(await refusal({ list: ['a'], inner: { name: 'n' } })).toBeUndefined();
    const listOnly = await refusal({ list: [], inner: { name: 'n' } });
    expect(codeOf(listOnly)).toBe('bad-list');
    expect((listOnly as CustosError).details).toEqual({ errors: [expect.stringContaining('list')] });
    expect(codeOf(await refusal({ list: ['a'], inner: { name: 7 } }))).toBe('bad-inner'); // nested rules count too
    expect(codeOf(await refusal({ list: [], inner: { name: 7 } }))).toBe('validation-failed'); // two codes
    expect(codeOf(await refusal({ list: [], inner: { name: 'n' }, extra: 1 }))).toBe('validation-failed'); // a rule without one
    expect(codeOf(await refusal({ list: 'a', inner: { name: 'n' } }))).toBe('validation-failed');
  });
});
