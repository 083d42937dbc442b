import { applyDecorators } from '@nestjs/common';
import { Type } from 'class-transformer';
import { IsObject, ValidateIf, ValidateNested } from 'class-validator';

/**
 * The one rule for a property whose value is an object of DTO `dto`: it must be an object
 * (never an array, null, a scalar or missing: class-validator's ValidateNested alone lets an
 * array through and validates its items instead), of that shape, validated through.
 * Every nested-object property of a request DTO carries it (dto-rules.spec.ts checks).
 */
export function NestedObject(dto: () => abstract new () => object): PropertyDecorator {
  return applyDecorators(IsObject({ message: '$property must be an object' }), ValidateNested(), Type(dto as () => new () => object));
}

/**
 * May be left out; when given, it is validated, null included: class-validator's IsOptional
 * lets null through to the handler (where `null` for a date became a 500). Request bodies
 * have no null values: a field is given or left out.
 */
export function Omittable(): PropertyDecorator {
  return ValidateIf((_object: object, value: unknown) => value !== undefined);
}
