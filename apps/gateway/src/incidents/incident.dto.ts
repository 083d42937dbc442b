import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { INCIDENT_STATES, type IncidentState, RECIPIENT_CLASSES, type RecipientClass, RULE_IDS, SEVERITIES, type Severity } from '@custos/sentinel';
import { Type } from 'class-transformer';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsBoolean, IsIn, IsInt, IsObject, IsOptional, IsString, Length, Matches, Max, Min, ValidateBy } from 'class-validator';
import { ID } from '../access/access.dto.js';
import { NestedObject, Omittable } from '../dto-rules.js';
import { REGION_CODE } from '@custos/vocabulary';

/** The shapes of the incident, reference-data and SIEM routes, checked at the edge (the decider checks the rest). */

const INCIDENT_ID = /^inc-[A-Za-z0-9-]{1,64}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ACTOR = /^[\x21-\x7e]{1,200}$/;
/** Free text an officer writes: printable, bounded; sealed when stored. */
const NOTE_LENGTH = [1, 4000] as const;

export { REGION_CODE };

const COUNT_MAX = 1_000_000_000;
const REGIONS_MAX = 500;

function regionCountsProblem(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'byRegion must be an object of region codes to counts';
  const entries = Object.entries(v);
  if (entries.length > REGIONS_MAX) return `byRegion names at most ${REGIONS_MAX} regions`;
  const key = entries.find(([k]) => !REGION_CODE.test(k))?.[0];
  if (key !== undefined) return `byRegion keys are region codes (CA, US-CA, FR-IDF, EU), not ${JSON.stringify(key.slice(0, 20))}${key.length > 20 ? '…' : ''}`;
  if (!entries.every(([, n]) => Number.isInteger(n) && (n as number) >= 0 && (n as number) <= COUNT_MAX)) return `byRegion counts are integers from 0 to ${COUNT_MAX}`;
  return undefined;
}

/** Region codes to counts: else 400 bad-counts, like any other bad count. */
function IsRegionCounts(): PropertyDecorator {
  return ValidateBy({ name: 'isRegionCounts', validator: { validate: (v: unknown) => regionCountsProblem(v) === undefined, defaultMessage: (a) => regionCountsProblem(a?.value) ?? 'byRegion is invalid' } }, { context: { code: 'bad-counts' } });
}

export class IncidentParams {
  @ApiProperty({ pattern: INCIDENT_ID.source }) @Matches(INCIDENT_ID, { message: 'incidentId is malformed' }) incidentId!: string;
}

export class IncidentListQuery {
  @ApiPropertyOptional({ enum: INCIDENT_STATES }) @IsOptional() @IsIn(INCIDENT_STATES) state?: IncidentState;
  @ApiPropertyOptional({ enum: SEVERITIES }) @IsOptional() @IsIn(SEVERITIES) severity?: Severity;
  @ApiPropertyOptional({ enum: RULE_IDS }) @IsOptional() @IsIn(RULE_IDS) rule?: string;
  @ApiPropertyOptional() @IsOptional() @Matches(ACTOR) actor?: string;
  @ApiPropertyOptional() @IsOptional() @Matches(ID) patient?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @Length(1, 40) from?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @Length(1, 40) to?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @Length(1, 400) cursor?: string;
  @ApiPropertyOptional({ minimum: 1, maximum: 500 }) @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(500) limit?: number;
}

export class SubjectDto {
  @ApiProperty({ enum: ['actor', 'patient'] }) @IsIn(['actor', 'patient']) kind!: 'actor' | 'patient';
  @ApiProperty() @Matches(ACTOR) id!: string;
}

export class OpenIncidentDto {
  @ApiProperty() @IsString() @Length(1, 200) title!: string;
  @ApiProperty({ enum: SEVERITIES }) @IsIn(SEVERITIES) severity!: Severity;
  @ApiProperty({ type: SubjectDto }) @NestedObject(() => SubjectDto) subject!: SubjectDto;
  @ApiPropertyOptional({ type: [String] }) @IsOptional() @IsArray() @ArrayMaxSize(10_000) @Matches(ID, { each: true }) patientIds?: string[];
  @ApiPropertyOptional({ type: [String], description: 'event ids in the log' }) @IsOptional() @IsArray() @ArrayMaxSize(1000) @Matches(UUID, { each: true }) evidence?: string[];
  @ApiPropertyOptional() @Omittable() @IsString() @Length(1, 40) discoveredAt?: string;
}

export class TransitionDto {
  @ApiProperty({ enum: INCIDENT_STATES }) @IsIn(INCIDENT_STATES) to!: IncidentState;
  @ApiProperty() @IsString() @Length(...NOTE_LENGTH) note!: string;
}

export class EvidenceDto {
  @ApiProperty({ type: [String] }) @IsArray() @ArrayMaxSize(1000) @Matches(UUID, { each: true }) eventIds!: string[];
  @ApiProperty() @IsString() @Length(...NOTE_LENGTH) note!: string;
}

export class FactorsDto {
  @ApiProperty() @IsString() @Length(...NOTE_LENGTH) natureAndExtent!: string;
  @ApiProperty() @IsString() @Length(...NOTE_LENGTH) unauthorizedPerson!: string;
  @ApiProperty() @IsString() @Length(...NOTE_LENGTH) acquiredOrViewed!: string;
  @ApiProperty() @IsString() @Length(...NOTE_LENGTH) mitigation!: string;
}

export class AffectedDto {
  @ApiProperty() @IsInt() @Min(0) @Max(1_000_000_000) total!: number;
  @ApiProperty({ description: `counts per region code (${REGION_CODE.source}): CA, US-CA, FR-IDF, EU` }) @IsObject() @IsRegionCounts() byRegion!: Record<string, number>;
  @ApiProperty() @IsInt() @Min(0) @Max(1_000_000_000) euResidents!: number;
}

export class AssessmentDto {
  @ApiProperty({ type: FactorsDto }) @NestedObject(() => FactorsDto) factors!: FactorsDto;
  @ApiProperty({ enum: ['breach', 'low-probability-of-compromise'] }) @IsIn(['breach', 'low-probability-of-compromise']) decision!: 'breach' | 'low-probability-of-compromise';
  @ApiProperty() @IsString() @Length(...NOTE_LENGTH) rationale!: string;
  @ApiProperty({ type: AffectedDto }) @NestedObject(() => AffectedDto) affected!: AffectedDto;
}

export class NotificationDto {
  @ApiProperty({ enum: RECIPIENT_CLASSES }) @IsIn(RECIPIENT_CLASSES) recipientClass!: RecipientClass;
  @ApiProperty() @IsString() @Length(1, 100) channel!: string;
  @ApiProperty() @IsString() @Length(1, 40) date!: string;
  @ApiProperty({ description: 'hex SHA-256 of what was sent' }) @Matches(/^[0-9a-f]{64}$/) contentHash!: string;
}

export class HoldDto {
  @ApiProperty({ enum: ['written', 'oral'] }) @IsIn(['written', 'oral']) kind!: 'written' | 'oral';
  @ApiProperty() @IsString() @Length(1, 200) agency!: string;
  @ApiPropertyOptional({ description: "the written statement's reference (required for a written hold)" }) @IsOptional() @IsString() @Length(1, 200) reference?: string;
  @ApiProperty() @IsString() @Length(1, 40) from!: string;
  @ApiPropertyOptional() @Omittable() @IsString() @Length(1, 40) until?: string;
}

export class VerdictDto {
  @ApiProperty({ enum: ['true-positive', 'false-positive', 'duplicate'] }) @IsIn(['true-positive', 'false-positive', 'duplicate']) verdict!: 'true-positive' | 'false-positive' | 'duplicate';
  @ApiProperty() @IsString() @Length(...NOTE_LENGTH) note!: string;
}

export class AddPatientsDto {
  @ApiProperty({ type: [String] }) @IsArray() @ArrayMinSize(1) @ArrayMaxSize(10_000) @Matches(ID, { each: true }) patientIds!: string[];
  @ApiProperty() @IsString() @Length(...NOTE_LENGTH) note!: string;
}

export class NoteDto {
  @ApiProperty() @IsString() @Length(...NOTE_LENGTH) note!: string;
}

export class SeverityDto {
  @ApiProperty({ enum: SEVERITIES }) @IsIn(SEVERITIES) severity!: Severity;
  @ApiProperty() @IsString() @Length(...NOTE_LENGTH) reason!: string;
}

export class AssigneeDto {
  @ApiProperty() @Matches(ACTOR) assignee!: string;
}

export class DiscoveryDto {
  @ApiProperty() @IsString() @Length(1, 40) discoveredAt!: string;
  @ApiPropertyOptional() @Omittable() @IsString() @Length(1, 40) awareAt?: string;
  @ApiProperty() @IsString() @Length(...NOTE_LENGTH) note!: string;
}

export class WindowQuery {
  @ApiPropertyOptional() @IsOptional() @IsString() @Length(1, 40) from?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @Length(1, 40) to?: string;
}

// Reference data: who patients and the workforce are.
export class ActorParams {
  @ApiProperty({ pattern: ACTOR.source }) @Matches(ACTOR, { message: 'actorId must be 1-200 printable ASCII characters' }) actorId!: string;
}

export class ProfileDto {
  @ApiProperty() @IsString() @Length(1, 200) familyName!: string;
  @ApiProperty() @IsString() @Length(1, 500) address!: string;
  @ApiProperty({ description: 'state, province or jurisdiction of residence, as a code (CA, US-CA, FR-IDF): stored in clear' }) @Matches(REGION_CODE, { message: 'region must be a region code (CA, US-CA, FR-IDF)' }) region!: string;
  @ApiProperty({ description: 'ISO 3166-1 alpha-2' }) @Matches(/^[A-Z]{2}$/) country!: string;
  @ApiProperty() @IsBoolean() euDataSubject!: boolean;
  @ApiProperty() @IsBoolean() vip!: boolean;
  @ApiProperty() @IsBoolean() employee!: boolean;
}

export class WorkforceDto {
  @ApiProperty() @IsString() @Length(1, 200) familyName!: string;
  @ApiProperty() @IsString() @Length(1, 500) address!: string;
  @ApiProperty() @IsString() @Length(1, 200) department!: string;
  @ApiProperty({ enum: ['active', 'terminated'] }) @IsIn(['active', 'terminated']) status!: 'active' | 'terminated';
  @ApiProperty() @IsString() @Length(1, 40) since!: string;
  @ApiPropertyOptional() @IsOptional() @Matches(ID) patientId?: string;
}

// The SIEM feed.
export class SiemQuery {
  @ApiPropertyOptional({ description: 'the last sequence already received (-1 or absent: from the start)' }) @IsOptional() @Type(() => Number) @IsInt() @Min(-1) @Max(Number.MAX_SAFE_INTEGER) after?: number;
  @ApiPropertyOptional({ minimum: 1, maximum: 5000 }) @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(5000) limit?: number;
}
