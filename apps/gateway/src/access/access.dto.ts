import { DATA_ACTIONS, PURPOSES, RESOURCE_TYPES } from '@custos/authz';
import { ValidationError } from '@custos/errors';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Length, Matches, Max, Min, ValidateNested } from 'class-validator';

export const ID = /^[A-Za-z0-9._-]{1,100}$/;

export function checkId(name: string, value: string): string {
  if (!ID.test(value)) throw new ValidationError(`${name} must be 1-100 letters, digits or ._-`, { [name]: value });
  return value;
}

export class EmergencyDto {
  @IsString() @Length(20, 2000, { message: 'emergency.reason must be 20 to 2000 characters' }) reason!: string;
}

export class AccessRequestDto {
  @IsIn(RESOURCE_TYPES) resourceType!: (typeof RESOURCE_TYPES)[number];
  @IsString() @Matches(ID) resourceId!: string;
  @IsIn(DATA_ACTIONS) action!: (typeof DATA_ACTIONS)[number];
  @IsIn(PURPOSES) purpose!: (typeof PURPOSES)[number];
  @IsOptional() @ValidateNested() @Type(() => EmergencyDto) emergency?: EmergencyDto;
}

export class DemographicsDto {
  @IsString() @Length(1, 50) sex!: string;
  @Type(() => Number) @IsInt() @Min(1880) @Max(2100) birthYear!: number;
  @IsString() @Length(1, 100) ethnicity!: string;
}

export class RegisterImageDto {
  @IsString() @Matches(ID) imageId!: string;
  @IsString() @Matches(ID) patientId!: string;
  @IsString() @Length(1, 20) modality!: string;
  @IsString() @Length(1, 100) bodySite!: string;
  @IsString() @Matches(ID) datasetId!: string;
  @ValidateNested() @Type(() => DemographicsDto) demographics!: DemographicsDto;
}

export class ReviewDto {
  @IsIn(['justified', 'unjustified']) verdict!: 'justified' | 'unjustified';
  @IsString() @Length(0, 2000) note!: string;
}

export class TrailQueryDto {
  @IsOptional() @IsString() from?: string;
  @IsOptional() @IsString() to?: string;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(1000) limit?: number;
  @IsOptional() @IsString() @Length(1, 200) cursor?: string;
  @IsOptional() @IsIn(['json', 'fhir']) format?: 'json' | 'fhir';
}

export class AuditQueryDto extends TrailQueryDto {
  @IsOptional() @IsString() @Matches(/^[A-Za-z0-9._@:-]{1,200}$/) actorId?: string;
  @IsOptional() @IsString() @Matches(ID) patientId?: string;
  @IsOptional() @IsIn(['PERMIT', 'DENY']) decision?: 'PERMIT' | 'DENY';
  @IsOptional() @IsIn(PURPOSES) purpose?: string;
}

export class ReviewQueueQueryDto {
  @IsOptional() @IsIn(['open', 'closed', 'all']) status?: 'open' | 'closed' | 'all';
}

export function parseInstant(name: string, value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const d = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(d.getTime())) throw new ValidationError(`${name} must be an ISO-8601 date or instant`, { [name]: value });
  return d;
}
