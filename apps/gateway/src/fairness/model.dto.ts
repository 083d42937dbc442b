import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsInt, IsObject, IsOptional, IsString, Length, Matches, Max, Min, ValidateNested } from 'class-validator';
import { ID } from '../access/access.dto.js';
import { NestedObject, Omittable } from '../dto-rules.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HEX64 = /^[0-9a-fA-F]{64}$/;

export class ModelParams {
  @ApiProperty({ format: 'uuid' }) @Matches(UUID, { message: 'modelId must be a UUID' }) modelId!: string;
}

/** A snapshot as a test set: which dataset's, which. */
export class SnapshotNameDto {
  @ApiProperty({ pattern: ID.source }) @IsString() @Matches(ID, { message: 'datasetId must be 1-100 letters, digits or ._-' }) datasetId!: string;
  @ApiProperty({ format: 'uuid' }) @IsString() @Matches(UUID, { message: 'snapshotId must be a UUID' }) snapshotId!: string;
}

/** A snapshot a model learned from or was validated on; the root, when given, must be the one the log recorded (409 otherwise). */
export class SnapshotRefDto extends SnapshotNameDto {
  @ApiPropertyOptional({ pattern: HEX64.source, description: 'hex SHA-256, as recorded in the snapshot (RFC 9162)' }) @Omittable() @IsString() @Matches(HEX64, { message: 'rootHash must be 64 hex digits' }) rootHash?: string;
}

export class RegisterModelDto {
  @ApiProperty({ maxLength: 100 }) @IsString() @Length(1, 100) name!: string;
  @ApiProperty({ maxLength: 64 }) @IsString() @Length(1, 64) version!: string;
  @ApiPropertyOptional({ maxLength: 2000 }) @Omittable() @IsString() @Length(0, 2000) description?: string;
  @ApiProperty({ type: [SnapshotRefDto], minItems: 1, maxItems: 50 })
  @IsArray({ context: { code: 'bad-snapshots' } })
  @ArrayMinSize(1, { context: { code: 'bad-snapshots' } })
  @ArrayMaxSize(50, { context: { code: 'bad-snapshots' } })
  @IsObject({ each: true, message: 'each snapshot must be an object' })
  @ValidateNested({ each: true })
  @Type(() => SnapshotRefDto)
  trainedOn!: SnapshotRefDto[];
  @ApiProperty({ type: [SnapshotRefDto], maxItems: 50 })
  @IsArray({ context: { code: 'bad-snapshots' } })
  @ArrayMaxSize(50, { context: { code: 'bad-snapshots' } })
  @IsObject({ each: true, message: 'each snapshot must be an object' })
  @ValidateNested({ each: true })
  @Type(() => SnapshotRefDto)
  validatedOn!: SnapshotRefDto[];
}

const metric = { type: 'object', required: ['value', 'ci'], properties: { value: { type: 'number', minimum: 0, maximum: 1 }, ci: { type: 'array', minItems: 2, maxItems: 2, items: { type: 'number', minimum: 0, maximum: 1 } } } };
const GROUP_SCHEMA = {
  type: 'object',
  required: ['dimension', 'group', 'n', 'sensitivity', 'specificity', 'auc'],
  properties: { dimension: { type: 'string', enum: ['sex', 'ageBand', 'ethnicity'] }, group: { type: 'string' }, n: { type: 'integer', minimum: 0, maximum: 1_000_000_000 }, sensitivity: metric, specificity: metric, auc: metric },
};

export class EvaluationDto {
  @ApiProperty({ type: SnapshotNameDto, description: 'the test snapshot: not one the model was trained on' }) @NestedObject(() => SnapshotNameDto) testSnapshot!: SnapshotNameDto;
  @ApiProperty({ type: 'array', minItems: 1, maxItems: 200, items: GROUP_SCHEMA, description: 'results per demographic group; each checked by the decider, which names the field it refuses' })
  @IsArray({ context: { code: 'bad-groups' } })
  @ArrayMinSize(1, { context: { code: 'bad-groups' } })
  @ArrayMaxSize(200, { context: { code: 'bad-groups' } })
  groups!: unknown[];
}

export class ModelListQueryDto {
  @ApiPropertyOptional({ minimum: 1, maximum: 200, default: 50 }) @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(200) limit?: number;
  @ApiPropertyOptional({ minimum: -1, description: "the last page's `next` (a registration sequence)" }) @IsOptional() @Type(() => Number) @IsInt() @Min(-1) @Max(Number.MAX_SAFE_INTEGER) after?: number;
}
