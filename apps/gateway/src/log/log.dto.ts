import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsInt, IsOptional, IsString, Length, Matches, Max, Min } from 'class-validator';

const COUNT = /^(0|[1-9]\d{0,14})$/;

export class TreeSizeParams {
  @ApiProperty({ pattern: COUNT.source }) @Matches(COUNT, { message: 'treeSize must be a non-negative integer' }) treeSize!: string;
}

export class InclusionQueryDto {
  @ApiProperty({ pattern: COUNT.source }) @Matches(COUNT, { message: 'sequence must be a non-negative integer' }) sequence!: string;
  @ApiProperty({ pattern: COUNT.source }) @Matches(COUNT, { message: 'treeSize must be a non-negative integer' }) treeSize!: string;
}

export class ConsistencyQueryDto {
  @ApiProperty({ pattern: COUNT.source }) @Matches(COUNT, { message: 'from must be a non-negative integer' }) from!: string;
  @ApiProperty({ pattern: COUNT.source }) @Matches(COUNT, { message: 'to must be a non-negative integer' }) to!: string;
}

export class ExportDto {
  @ApiProperty({ pattern: '^[A-Za-z0-9._-]{1,100}$' }) @IsString() @Matches(/^[A-Za-z0-9._-]{1,100}$/) patientId!: string;
  @ApiProperty({ description: 'RFC 3339 instant: the window starts here (inclusive)' }) @IsString() @Length(1, 40) from!: string;
  @ApiProperty({ description: 'RFC 3339 instant: the window ends here (exclusive)' }) @IsString() @Length(1, 40) to!: string;
  @ApiPropertyOptional({ description: 'the tree size of a checkpoint kept from an earlier export: the bundle then carries a consistency proof from it' })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(Number.MAX_SAFE_INTEGER)
  since?: number;
}
