import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { DATASET_PURPOSES, type DatasetPurpose, type Geometry } from '@custos/annotation';
import { Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsIn, IsInt, IsNumber, IsObject, IsOptional, IsString, Length, Matches, Max, Min } from 'class-validator';
import { DatasetParams } from '../access/access.dto.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class AnnotationParams {
  @ApiProperty({ format: 'uuid' }) @Matches(UUID, { message: 'annotationId must be a UUID' }) annotationId!: string;
}

export class SnapshotParams extends DatasetParams {
  @ApiProperty({ format: 'uuid' }) @Matches(UUID, { message: 'snapshotId must be a UUID' }) snapshotId!: string;
}

export class ProofQueryDto {
  @ApiProperty({ format: 'uuid' }) @Matches(UUID, { message: 'annotationId must be a UUID' }) annotationId!: string;
}

export class DatasetDto {
  @ApiProperty({ enum: DATASET_PURPOSES }) @IsIn(DATASET_PURPOSES) purpose!: DatasetPurpose;
  @ApiProperty({ type: [String], description: 'the controlled label vocabulary (lower case, digits, _ and -)' }) @IsArray() @ArrayMaxSize(200) @IsString({ each: true }) labels!: string[];
  @ApiProperty({ type: [String], description: 'credentials accepted to annotate and review' }) @IsArray() @ArrayMaxSize(50) @IsString({ each: true }) credentials!: string[];
  @ApiProperty({ minimum: 1, maximum: 5 }) @Type(() => Number) @IsInt() @Min(1) @Max(5) minReviewers!: number;
}

export class AnnotationDto {
  @ApiProperty() @IsString() @Length(1, 64) label!: string;
  @ApiProperty({ description: '{"type":"bbox","x","y","width","height"} | {"type":"polygon","points":[[x,y],…]} | {"type":"mask","ref"}', type: 'object', additionalProperties: true })
  @IsObject()
  geometry!: Geometry;
  @ApiProperty({ minimum: 0, maximum: 1 }) @IsNumber({ allowNaN: false, allowInfinity: false }) @Min(0) @Max(1) confidence!: number;
  @ApiPropertyOptional({ maxLength: 4000, description: 'free text: personal, sealed under the patient’s data key' }) @IsOptional() @IsString() @Length(0, 4000) note?: string;
}

export class AnnotationEditDto {
  @ApiPropertyOptional() @IsOptional() @IsString() @Length(1, 64) label?: string;
  @ApiPropertyOptional({ type: 'object', additionalProperties: true }) @IsOptional() @IsObject() geometry?: Geometry;
  @ApiPropertyOptional({ minimum: 0, maximum: 1 }) @IsOptional() @IsNumber({ allowNaN: false, allowInfinity: false }) @Min(0) @Max(1) confidence?: number;
  @ApiPropertyOptional({ maxLength: 4000 }) @IsOptional() @IsString() @Length(0, 4000) note?: string;
}

export class AnnotationReviewDto {
  @ApiProperty({ enum: ['approved', 'rejected'] }) @IsIn(['approved', 'rejected']) verdict!: 'approved' | 'rejected';
  @ApiPropertyOptional({ maxLength: 2000, description: 'required for a rejection' }) @IsOptional() @IsString() @Length(0, 2000) reason?: string;
}
