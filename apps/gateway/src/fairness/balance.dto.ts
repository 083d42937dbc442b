import { ApiProperty } from '@nestjs/swagger';
import { IsObject, IsOptional, IsString, Length } from 'class-validator';

const EPSILON = { context: { code: 'bad-epsilon' }, message: 'epsilon must be given once, as a decimal (e.g. 0.5)' };
const BY = { context: { code: 'bad-by' }, message: 'by must be given once, as a comma-separated list of sex, ageBand, ethnicity' };

/** ?epsilon=&by= (each once: a repeated parameter arrives as an array and is refused). The values are checked by the handler (400 naming the field, nothing spent). */
export class BalanceQueryDto {
  @ApiProperty({ example: '0.5', description: 'ε to spend: a positive decimal, at most six places, at most DP_EPSILON_MAX_PER_RELEASE' }) @IsString(EPSILON) @Length(1, 20, EPSILON) epsilon!: string;
  @ApiProperty({ example: 'sex,ageBand,ethnicity', description: 'one to three of sex, ageBand, ethnicity, comma-separated, no repeats' }) @IsString(BY) @Length(1, 60, BY) by!: string;
}

const TOTAL = { context: { code: 'bad-total' }, message: 'total must be given at most once, as a whole number of patients' };

/** The plan's parameters: a balance query, and optionally a hypothetical number of patients. */
export class BalancePlanQueryDto extends BalanceQueryDto {
  @ApiProperty({ required: false, example: '2000', description: 'patients to plan for when no release of these dimensions exists yet (1 to 999999999)' }) @IsOptional() @IsString(TOTAL) @Length(1, 9, TOTAL) total?: string;
}

const REFERENCE = { context: { code: 'bad-reference' } };

/** A reference population: shares per group per dimension (checked by the decider: known groups, each in (0,1], each dimension summing to 1 ± 0.001). */
export class ReferencePopulationDto {
  @ApiProperty({ minLength: 1, maxLength: 200, example: '2021 census, Greater Manchester' }) @IsString({ ...REFERENCE, message: 'source must be a string' }) @Length(1, 200, { ...REFERENCE, message: 'source must be 1 to 200 characters' }) source!: string;
  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'object', additionalProperties: { type: 'number' } },
    example: { sex: { female: 0.51, male: 0.49 }, ethnicity: { asian: 0.1, black: 0.05, white: 0.8, other: 0.05 } },
    description: 'per dimension (sex, ageBand, ethnicity), each group’s share; at least one dimension',
  })
  @IsObject({ ...REFERENCE, message: 'shares must be an object of dimensions' })
  shares!: Record<string, Record<string, number>>;
}
