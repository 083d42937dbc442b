import { Body, Controller, Get, Headers, Param, Post, Query } from '@nestjs/common';
import type { OpenAPIObject } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsIn, IsInt, IsOptional, IsString, Length, Matches, Max, Min, ValidateNested } from 'class-validator';
import { completeDocument, routesOf, toOpenApi30 } from './openapi.js';
import { Public } from './route-access.js';

class PointDto {
  @IsInt() @Min(0) @Max(10) x!: number;
}

class ThingDto {
  @IsString() @Matches(/^[a-z]{1,10}$/) name!: string;
  @IsString() @Matches(/^[0-9a-f]{4}$/i) code!: string;
  @IsOptional() @IsArray() @ArrayMaxSize(3) @IsIn(['a', 'b'], { each: true }) tags?: string[];
  @IsOptional() @IsString() @Length(1, 40) note?: string;
  @ValidateNested({ each: true }) @Type(() => PointDto) points!: PointDto[];
}

class ThingParams {
  @Matches(/^[a-z0-9-]{1,20}$/) thingId!: string;
}

class ThingQuery {
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(100) limit?: number;
}

@Controller('v1/things')
class ThingController {
  @Get(':thingId')
  get(@Param() _p: ThingParams, @Query() _q: ThingQuery) {
    return {};
  }

  @Post(':thingId')
  change(@Param() _p: ThingParams, @Body() _b: ThingDto, @Headers('If-Match') _ifMatch: string | undefined) {
    return {};
  }
}

@Public()
@Controller('open')
class OpenController {
  @Get()
  open() {
    return {};
  }
}

function nestDocument(): OpenAPIObject {
  const param = (name: string, where: 'path' | 'query') => ({ name, in: where, required: where === 'path', schema: { type: 'string' } });
  return {
    openapi: '3.0.0',
    info: { title: 't', version: '1' },
    paths: {
      '/v1/things/{thingId}': {
        get: { parameters: [param('thingId', 'path'), param('limit', 'query')], responses: { '200': { description: 'ok', content: { 'application/json': { schema: { type: ['object', 'null'] } } } } } },
        post: { parameters: [param('thingId', 'path')], responses: { '200': { description: 'ok' }, '428': { description: 'no If-Match' } } },
      },
      '/open': { get: { responses: { '200': { description: 'ok' } } } },
    },
    components: { schemas: { ThingDto: { type: 'object', properties: { name: { type: 'string', description: 'the name' } } } } },
  } as unknown as OpenAPIObject;
}

describe('the OpenAPI document completed from the code', () => {
  const routes = routesOf([ThingController, OpenController]);

  it('reads each route: method, OpenAPI path, public or not, the DTOs and the headers it reads', () => {
    expect(routes).toEqual([
      { method: 'get', path: '/v1/things/{thingId}', public: false, query: ThingQuery, params: ThingParams, headers: [] },
      { method: 'post', path: '/v1/things/{thingId}', public: false, body: ThingDto, params: ThingParams, headers: ['if-match'] },
      { method: 'get', path: '/open', public: true, headers: [] },
    ]);
  });

  it('states in the schemas what the validators enforce, keeping what @ApiProperty describes', () => {
    const doc = nestDocument();
    completeDocument(doc, routes, { operationIds: { 'GET /v1/things/{thingId}': 'getThing' } });
    const schemas = doc.components!.schemas as Record<string, Record<string, unknown>>;
    expect(schemas.ThingDto).toEqual({
      type: 'object',
      additionalProperties: false,
      required: ['name', 'code', 'points'],
      properties: {
        name: { type: 'string', pattern: '^[a-z]{1,10}$', description: 'the name' },
        code: { type: 'string' }, // case-insensitive: no pattern rather than a stricter one
        tags: { type: 'array', maxItems: 3, items: { type: 'string', enum: ['a', 'b'] } },
        note: { type: 'string', minLength: 1, maxLength: 40 },
        points: { type: 'array', items: { $ref: '#/components/schemas/PointDto' } },
      },
    });
    expect(schemas.PointDto).toEqual({ type: 'object', additionalProperties: false, required: ['x'], properties: { x: { type: 'integer', minimum: 0, maximum: 10 } } });
    const get = doc.paths['/v1/things/{thingId}']!.get!;
    expect(get.operationId).toBe('getThing');
    expect(get.security).toEqual([{ bearer: [] }]);
    expect(get.parameters).toEqual([
      { name: 'thingId', in: 'path', required: true, schema: { type: 'string', pattern: '^[a-z0-9-]{1,20}$' } },
      { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 100 } },
      { $ref: '#/components/parameters/CorrelationId' },
    ]);
    expect(get.responses['200']).toMatchObject({ content: { 'application/json': { schema: { type: 'object', nullable: true } } }, headers: { 'x-correlation-id': { $ref: '#/components/headers/CorrelationId' } } });
    const post = doc.paths['/v1/things/{thingId}']!.post!;
    expect(post.operationId).toBe('postV1ThingsThingId'); // not in the table: named from the path
    expect(post.parameters).toContainEqual(expect.objectContaining({ name: 'If-Match', in: 'header', required: true }));
    expect(post.requestBody).toEqual({ required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/ThingDto' } } } });
    expect(doc.paths['/open']!.get!.security).toEqual([]);
  });

  it('turns 3.1 type arrays into 3.0 nullable, several types into a oneOf, const into an enum', () => {
    const schema: Record<string, unknown> = { properties: { a: { type: ['string', 'null'] }, b: { type: ['string', 'integer'] }, c: { const: 'x' }, type: { type: 'string' } } };
    toOpenApi30(schema);
    expect(schema).toEqual({ properties: { a: { type: 'string', nullable: true }, b: { oneOf: [{ type: 'string' }, { type: 'integer' }] }, c: { enum: ['x'] }, type: { type: 'string' } } });
  });
});
