import { EMERGENCY_REASON_MIN, visibleLength } from '@custos/authz';
import type { TrailDecision } from '@custos/access';
import { DATA_ACTIONS, PURPOSES, RESOURCE_TYPES } from '@custos/vocabulary';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Length, Matches, Max, Min, ValidateBy, type ValidationOptions } from 'class-validator';
import { NestedObject, Omittable } from '../dto-rules.js';

export const ID = /^[A-Za-z0-9._-]{1,100}$/;
const RESOURCE_ID = /^(image:)?[A-Za-z0-9._-]{1,100}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Text that shows at least `min` visible characters (format characters and white space do not count). */
function HasVisibleLength(min: number, options?: ValidationOptions) {
  return ValidateBy({ name: 'hasVisibleLength', validator: { validate: (v: unknown) => typeof v === 'string' && visibleLength(v) >= min, defaultMessage: () => `must have at least ${min} visible characters` } }, options);
}

/** Path parameters, validated like bodies (a bad id is a 400, never a query). */
export class PatientParams {
  @ApiProperty({ pattern: ID.source }) @Matches(ID, { message: 'patientId must be 1-100 letters, digits or ._-' }) patientId!: string;
}

export class ImageParams {
  @ApiProperty({ pattern: ID.source }) @Matches(ID, { message: 'imageId must be 1-100 letters, digits or ._-' }) imageId!: string;
}

export class DatasetParams {
  @ApiProperty({ pattern: ID.source }) @Matches(ID, { message: 'datasetId must be 1-100 letters, digits or ._-' }) datasetId!: string;
}

export class EventParams {
  @ApiProperty({ format: 'uuid' }) @Matches(UUID, { message: 'eventId must be a UUID' }) eventId!: string;
}

export class EmergencyDto {
  @ApiProperty({ minLength: EMERGENCY_REASON_MIN, maxLength: 2000, description: `at least ${EMERGENCY_REASON_MIN} visible characters` })
  @IsString()
  @Length(1, 2000)
  @HasVisibleLength(EMERGENCY_REASON_MIN, { message: `emergency.reason must have at least ${EMERGENCY_REASON_MIN} visible characters` })
  reason!: string;
}

export class AccessRequestDto {
  @ApiProperty({ enum: RESOURCE_TYPES }) @IsIn(RESOURCE_TYPES) resourceType!: (typeof RESOURCE_TYPES)[number];
  @ApiProperty({ pattern: RESOURCE_ID.source, description: 'an image, annotation or patient id; `image:<imageId>` with resourceType annotation: the annotations of that image' })
  @IsString()
  @Matches(RESOURCE_ID)
  resourceId!: string;
  @ApiProperty({ enum: DATA_ACTIONS }) @IsIn(DATA_ACTIONS) action!: (typeof DATA_ACTIONS)[number];
  @ApiProperty({ enum: PURPOSES }) @IsIn(PURPOSES) purpose!: (typeof PURPOSES)[number];
  @ApiPropertyOptional({ type: EmergencyDto }) @Omittable() @NestedObject(() => EmergencyDto) emergency?: EmergencyDto;
}

export class ImageQueryDto {
  @ApiProperty({ enum: PURPOSES, description: 'the purpose of this read (required): it is decided and recorded like any access' }) @IsIn(PURPOSES) purpose!: (typeof PURPOSES)[number];
}

export class DemographicsDto {
  @ApiProperty() @IsString() @Length(1, 50) sex!: string;
  @ApiProperty() @Type(() => Number) @IsInt() @Min(1880) @Max(2100) birthYear!: number;
  @ApiProperty() @IsString() @Length(1, 100) ethnicity!: string;
}

export class RegisterImageDto {
  @ApiProperty() @IsString() @Matches(ID) imageId!: string;
  @ApiProperty() @IsString() @Matches(ID) patientId!: string;
  @ApiProperty() @IsString() @Length(1, 20) modality!: string;
  @ApiProperty() @IsString() @Length(1, 100) bodySite!: string;
  @ApiProperty() @IsString() @Matches(ID) datasetId!: string;
  @ApiProperty({ type: DemographicsDto }) @NestedObject(() => DemographicsDto) demographics!: DemographicsDto;
}

export class ReviewDto {
  @ApiProperty({ enum: ['justified', 'unjustified'] }) @IsIn(['justified', 'unjustified']) verdict!: 'justified' | 'unjustified';
  @ApiProperty({ maxLength: 2000 }) @IsString() @Length(0, 2000) note!: string;
}

export class TrailQueryDto {
  @ApiPropertyOptional({ description: 'date or RFC 3339 instant, 1900-9999' }) @IsOptional() @IsString() @Length(1, 40) from?: string;
  @ApiPropertyOptional({ description: 'date or RFC 3339 instant, 1900-9999' }) @IsOptional() @IsString() @Length(1, 40) to?: string;
  @ApiPropertyOptional({ minimum: 1, maximum: 1000 }) @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(1000) limit?: number;
  @ApiPropertyOptional() @IsOptional() @IsString() @Length(1, 200) cursor?: string;
  @ApiPropertyOptional({ enum: ['json', 'fhir'] }) @IsOptional() @IsIn(['json', 'fhir']) format?: 'json' | 'fhir';
}

export class AuditQueryDto extends TrailQueryDto {
  @ApiPropertyOptional() @IsOptional() @IsString() @Matches(/^[A-Za-z0-9._@:-]{1,200}$/) actorId?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @Matches(ID) patientId?: string;
  @ApiPropertyOptional({ enum: ['PERMIT', 'DENY', 'reported-success', 'reported-failure'] }) @IsOptional() @IsIn(['PERMIT', 'DENY', 'reported-success', 'reported-failure']) decision?: TrailDecision;
  @ApiPropertyOptional({ enum: PURPOSES }) @IsOptional() @IsIn(PURPOSES) purpose?: (typeof PURPOSES)[number];
}

export class ReviewQueueQueryDto {
  @ApiPropertyOptional({ enum: ['open', 'closed', 'all'] }) @IsOptional() @IsIn(['open', 'closed', 'all']) status?: 'open' | 'closed' | 'all';
  @ApiPropertyOptional({ minimum: 1, maximum: 1000 }) @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(1000) limit?: number;
  @ApiPropertyOptional() @IsOptional() @IsString() @Length(1, 200) cursor?: string;
}
