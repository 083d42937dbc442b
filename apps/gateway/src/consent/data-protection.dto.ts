import { ApiProperty } from '@nestjs/swagger';
import { IsBoolean, IsIn, IsString, Matches } from 'class-validator';

/** A case, ticket or letter reference: printable, no personal data expected (it is stored in clear). */
const REFERENCE = /^[A-Za-z0-9][A-Za-z0-9 ._:/#-]{0,199}$/;

export class ErasureDto {
  @ApiProperty({ description: "the patient's request this erasure answers (ticket or letter reference)", pattern: REFERENCE.source }) @IsString() @Matches(REFERENCE) reference!: string;
}

export class LegalHoldDto {
  @ApiProperty() @IsBoolean() active!: boolean;
  @ApiProperty({ description: 'the case or investigation', pattern: REFERENCE.source }) @IsString() @Matches(REFERENCE) reference!: string;
}

export class RotateDto {
  @ApiProperty({ enum: ['kek', 'signing'] }) @IsIn(['kek', 'signing']) kind!: 'kek' | 'signing';
}
