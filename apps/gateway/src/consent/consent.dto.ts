import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { RECIPIENT_TYPES, type RecipientType } from '@custos/consent';
import { DATA_CATEGORIES, type DataCategory, PURPOSES } from '@custos/vocabulary';
import { Type } from 'class-transformer';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsIn, IsObject, IsOptional, IsString, Length, Matches, ValidateNested } from 'class-validator';
import { Omittable } from '../dto-rules.js';
import { PatientParams } from '../access/access.dto.js';

export class RecipientDto {
  @ApiProperty({ enum: RECIPIENT_TYPES }) @IsIn(RECIPIENT_TYPES) type!: RecipientType;
  @ApiProperty({ pattern: '^[A-Za-z0-9._:@-]{1,200}$' }) @IsString() @Matches(/^[A-Za-z0-9._:@-]{1,200}$/) id!: string;
}

export class ConsentChangeDto {
  @ApiProperty({ enum: ['granted', 'denied'] }) @IsIn(['granted', 'denied']) status!: 'granted' | 'denied';
  @ApiPropertyOptional({ enum: DATA_CATEGORIES, isArray: true, description: 'the categories the choice covers; all of them when left out (an empty list is refused: bad-categories)' })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1, { message: 'categories, when given, names at least one category (leave it out for all of them)', context: { code: 'bad-categories' } })
  @ArrayMaxSize(4)
  @IsIn(DATA_CATEGORIES, { each: true })
  categories?: DataCategory[];
  @ApiPropertyOptional({ description: 'RFC 3339 instant (or date), in the future, before year 10000' }) @Omittable() @IsString() @Length(1, 40) expiresAt?: string;
  @ApiPropertyOptional({ type: [RecipientDto], description: 'whom the grant is limited to, each typed' })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100)
  @IsObject({ each: true, message: 'each of recipients must be an object' })
  @ValidateNested({ each: true })
  @Type(() => RecipientDto)
  recipients?: RecipientDto[];
  @ApiPropertyOptional() @IsOptional() @IsString() @Length(1, 200) capturedBy?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @Length(1, 500) evidenceRef?: string;
}

export class ConsentWithdrawDto {
  @ApiPropertyOptional() @IsOptional() @IsString() @Length(1, 200) capturedBy?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @Length(1, 500) evidenceRef?: string;
}

export class ConsentQueryDto {
  @ApiPropertyOptional({ enum: ['json', 'fhir'] }) @IsOptional() @IsIn(['json', 'fhir']) format?: 'json' | 'fhir';
}

export class ConsentParams extends PatientParams {
  @ApiProperty({ enum: PURPOSES }) @IsString() purpose!: string;
}

export class ReceiptParams extends PatientParams {
  @ApiProperty({ pattern: '^[1-9][0-9]{0,8}$' }) @Matches(/^[1-9]\d{0,8}$/, { message: 'version must be a positive integer' }) version!: string;
}
