import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { FINDING_NOTE_MAX, FINDING_RULE_IDS, FINDING_STATES, type FindingState } from '@custos/sentinel';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Length, Matches, Max, Min } from 'class-validator';
import { ID } from '../access/access.dto.js';

/** The shapes of the findings routes, checked at the edge (the decider checks the rest). */

const FINDING_ID = /^fnd-[0-9a-f]{24}$/;

export class FindingParams {
  @ApiProperty({ pattern: FINDING_ID.source }) @Matches(FINDING_ID, { message: 'findingId is malformed' }) findingId!: string;
}

export class FindingListQuery {
  @ApiPropertyOptional({ enum: FINDING_STATES }) @IsOptional() @IsIn(FINDING_STATES) state?: FindingState;
  @ApiPropertyOptional({ enum: FINDING_RULE_IDS }) @IsOptional() @IsIn(FINDING_RULE_IDS) rule?: string;
  @ApiPropertyOptional({ pattern: ID.source }) @IsOptional() @Matches(ID, { message: 'datasetId is malformed' }) datasetId?: string;
  @ApiPropertyOptional({ pattern: ID.source }) @IsOptional() @Matches(ID, { message: 'modelId is malformed' }) modelId?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @Length(1, 400) cursor?: string;
  @ApiPropertyOptional({ minimum: 1, maximum: 500 }) @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(500) limit?: number;
}

export class FindingTransitionDto {
  @ApiProperty({ enum: FINDING_STATES }) @IsIn(FINDING_STATES) to!: FindingState;
  /** Free text a steward writes (what was done or decided): required, bounded and visible (the decider: note-required, note-too-long). */
  @ApiProperty({ maxLength: FINDING_NOTE_MAX })
  @IsString({ message: 'note is required', context: { code: 'note-required' } })
  note!: string;
}
