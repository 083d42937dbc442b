import { ApiProperty, ApiPropertyOptional, type SchemaObject } from '@nestjs/swagger';
import { COORD_MAX, DATASET_PURPOSES, type DatasetPurpose, type Geometry, geometryProblem, POLYGON_MAX_POINTS } from '@custos/annotation';
import { Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsIn, IsInt, IsNumber, IsObject, IsOptional, IsString, Length, Matches, Max, Min, ValidateBy } from 'class-validator';
import { DatasetParams } from '../access/access.dto.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const coordinate: SchemaObject = { type: 'number', minimum: 0, maximum: COORD_MAX };
/** The three geometries, each with exactly its keys (it is stored in clear: nothing else may ride in it). */
const GEOMETRY_SCHEMA: { oneOf: SchemaObject[] } = {
  oneOf: [
    { type: 'object', title: 'bbox', required: ['type', 'x', 'y', 'width', 'height'], additionalProperties: false, properties: { type: { type: 'string', enum: ['bbox'] }, x: coordinate, y: coordinate, width: { ...coordinate, exclusiveMinimum: true }, height: { ...coordinate, exclusiveMinimum: true } } },
    {
      type: 'object',
      title: 'polygon',
      required: ['type', 'points'],
      additionalProperties: false,
      properties: { type: { type: 'string', enum: ['polygon'] }, points: { type: 'array', minItems: 3, maxItems: POLYGON_MAX_POINTS, items: { type: 'array', minItems: 2, maxItems: 2, items: coordinate } } },
    },
    { type: 'object', title: 'mask', required: ['type', 'ref'], additionalProperties: false, properties: { type: { type: 'string', enum: ['mask'] }, ref: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._:/-]{0,299}$' } } },
  ],
};

/** A bbox, polygon or mask with only its own keys and bounded numbers (the decider's rule): else 400 bad-geometry. */
function IsGeometry(): PropertyDecorator {
  return ValidateBy({
    name: 'isGeometry',
    validator: { validate: (v: unknown) => geometryProblem(v) === undefined, defaultMessage: (a) => `geometry: ${geometryProblem(a?.value) ?? 'invalid'}` },
  }, { context: { code: 'bad-geometry' } });
}

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
  @ApiPropertyOptional({ type: [String], maxItems: 200, description: 'researchers (actor ids) on the dataset: they may ask for its balance report' }) @IsOptional() @IsArray() @ArrayMaxSize(200) @IsString({ each: true }) researchers?: string[];
}

export class AnnotationDto {
  @ApiProperty() @IsString() @Length(1, 64) label!: string;
  @ApiProperty({ description: '{"type":"bbox","x","y","width","height"} | {"type":"polygon","points":[[x,y],…]} | {"type":"mask","ref"}, each with only those keys', ...GEOMETRY_SCHEMA })
  @IsObject()
  @IsGeometry()
  geometry!: Geometry;
  @ApiProperty({ minimum: 0, maximum: 1 }) @IsNumber({ allowNaN: false, allowInfinity: false }) @Min(0) @Max(1) confidence!: number;
  @ApiPropertyOptional({ maxLength: 4000, description: 'free text: personal, sealed under the patient’s data key' }) @IsOptional() @IsString() @Length(0, 4000) note?: string;
}

export class AnnotationEditDto {
  @ApiPropertyOptional() @IsOptional() @IsString() @Length(1, 64) label?: string;
  @ApiPropertyOptional({ description: 'as for a new annotation', ...GEOMETRY_SCHEMA }) @IsOptional() @IsObject() @IsGeometry() geometry?: Geometry;
  @ApiPropertyOptional({ minimum: 0, maximum: 1 }) @IsOptional() @IsNumber({ allowNaN: false, allowInfinity: false }) @Min(0) @Max(1) confidence?: number;
  @ApiPropertyOptional({ maxLength: 4000 }) @IsOptional() @IsString() @Length(0, 4000) note?: string;
}

export class AnnotationReviewDto {
  @ApiProperty({ enum: ['approved', 'rejected'] }) @IsIn(['approved', 'rejected']) verdict!: 'approved' | 'rejected';
  @ApiPropertyOptional({ maxLength: 2000, description: 'required for a rejection' }) @IsOptional() @IsString() @Length(0, 2000) reason?: string;
}
