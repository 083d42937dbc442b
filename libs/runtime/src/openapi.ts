import { type INestApplication, RequestMethod, type Type } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA, ROUTE_ARGS_METADATA } from '@nestjs/common/constants.js';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { getMetadataStorage, ValidationTypes } from 'class-validator';
import { createRequire } from 'node:module';

type ValidationMetadata = ReturnType<ReturnType<typeof getMetadataStorage>['getTargetValidationMetadatas']>[number];
import { PUBLIC_ROUTE } from './route-access.js';

/** A JSON Schema / OpenAPI schema object, as loosely typed as the document itself. */
export type Schema = Record<string, unknown>;

/** A route as the controllers declare it: what the document is checked and completed against. */
export interface RouteInfo {
  /** Lower case, as in the document: get, post, put, delete, patch. */
  readonly method: string;
  /** In OpenAPI form: `/v1/patients/{patientId}`. */
  readonly path: string;
  /** @Public(): no token needed (`security: []`). */
  readonly public: boolean;
  /** The DTO classes of @Body(), @Query() and @Param(), when the route takes a whole DTO. */
  readonly body?: Type;
  readonly query?: Type;
  readonly params?: Type;
  /** Request headers the handler reads (lower case). */
  readonly headers: readonly string[];
}

export interface OpenApiSpec {
  /** The operationId of each route, keyed `GET /v1/path/{param}`: readable names a generated client keeps across refactors. */
  readonly operationIds?: Readonly<Record<string, string>>;
  /** What only this process knows (response headers it sets, media types): applied last. */
  readonly finish?: (document: OpenAPIObject, routes: readonly RouteInfo[]) => void;
}

// Nest's RouteParamtypes (not exported from the package index): @Body, @Query, @Param, @Headers.
const BODY = 3;
const QUERY = 4;
const PARAM = 5;
const HEADERS = 6;

const CORRELATION_ID_PATTERN = '^[A-Za-z0-9._-]{1,128}$';

/**
 * The OpenAPI 3.0 document a client generator can take, built from the controllers and then
 * completed from what the server actually does:
 * - one dialect: OpenAPI 3.0.3 throughout (Nest and hand-written schemas can leave 3.1 `type`
 *   arrays; they become `nullable`), with a server entry;
 * - `security: []` on @Public() routes, bearer on every other;
 * - request schemas from the class-validator decorators the ValidationPipe enforces
 *   (`additionalProperties: false` as it forbids unknown fields, lengths, patterns, enums,
 *   bounds, required), so the document cannot promise less or more than the server checks;
 * - `If-Match` where a handler reads it (required where the route answers 428), and
 *   `x-correlation-id` on every request and response;
 * - readable operationIds from the process' table.
 */
export function contractDocument(app: INestApplication, controllers: readonly Type[], spec: OpenApiSpec = {}): OpenAPIObject {
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Custos')
      .setDescription('Governance and audit backend for medical-imaging AI data. Errors are RFC 9457 application/problem+json.')
      .setVersion('0.1.0')
      .setOpenAPIVersion('3.0.3')
      .addServer('/', 'this Custos deployment (paths are relative to where the document is served)')
      .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'a JWT from a trusted issuer (the dev issuer in development)' }, 'bearer')
      .build(),
  );
  const routes = routesOf(controllers);
  completeDocument(document, routes, spec);
  return document;
}

/** Completes a document Nest generated (exported for tests of the rules). */
export function completeDocument(document: OpenAPIObject, routes: readonly RouteInfo[], spec: OpenApiSpec = {}): void {
  const components = (document.components ??= {});
  const schemas = (components.schemas ??= {}) as Record<string, Schema>;
  components.headers = { ...(components.headers ?? {}), CorrelationId: { description: 'the request correlation id (the one sent when well-formed, else a new UUID)', schema: { type: 'string', pattern: CORRELATION_ID_PATTERN } } };
  components.parameters = {
    ...(components.parameters ?? {}),
    CorrelationId: { name: 'x-correlation-id', in: 'header', required: false, description: 'a correlation id to find this request in logs and in the record; echoed back', schema: { type: 'string', pattern: CORRELATION_ID_PATTERN } },
  };
  const classes = new Map<string, Type>();
  for (const route of routes) {
    const operation = (document.paths[route.path] as Record<string, Schema> | undefined)?.[route.method];
    if (!operation) continue;
    operation.security = route.public ? [] : [{ bearer: [] }];
    operation.operationId = spec.operationIds?.[`${route.method.toUpperCase()} ${route.path}`] ?? fallbackOperationId(route);
    const parameters = ((operation.parameters as Schema[] | undefined) ?? []).filter((p) => !('$ref' in p));
    for (const [where, cls] of [['query', route.query], ['path', route.params]] as const) {
      if (!cls) continue;
      const derived = validatorSchema(cls, schemas, classes);
      for (const p of parameters) {
        const prop = p.in === where ? (derived.properties as Record<string, Schema>)[p.name as string] : undefined;
        if (!prop) continue;
        p.schema = mergeSchema((p.schema as Schema | undefined) ?? {}, prop);
        if (where === 'query') p.required = ((derived.required as string[] | undefined) ?? []).includes(p.name as string);
      }
    }
    if (route.headers.includes('if-match')) {
      const responses = operation.responses as Record<string, unknown>;
      parameters.push({
        name: 'If-Match',
        in: 'header',
        required: '428' in responses,
        description: 'the version this change is based on, as the ETag gave it ("3"); a stale one is 412' + ('428' in responses ? ', none is 428' : ''),
        schema: { type: 'string', pattern: '^(W/)?"?[0-9]{1,9}"?$' },
      });
    }
    operation.parameters = [...parameters, { $ref: '#/components/parameters/CorrelationId' }];
    if (route.body) {
      const name = route.body.name;
      schemas[name] = { ...(schemas[name] ?? {}), ...validatorSchema(route.body, schemas, classes) };
      operation.requestBody = { required: true, content: { 'application/json': { schema: { $ref: `#/components/schemas/${name}` } } } };
    }
  }
  spec.finish?.(document, routes);
  for (const path of Object.values(document.paths)) {
    for (const operation of Object.values(path as Record<string, Schema>)) {
      for (const response of Object.values((operation.responses ?? {}) as Record<string, Schema>)) {
        response.headers = { ...((response.headers as Schema | undefined) ?? {}), 'x-correlation-id': { $ref: '#/components/headers/CorrelationId' } };
      }
    }
  }
  toOpenApi30(document);
}

/** Every route of the controllers, with what the document needs to know about it. */
export function routesOf(controllers: readonly Type[]): RouteInfo[] {
  const routes: RouteInfo[] = [];
  for (const controller of controllers) {
    const base = [Reflect.getMetadata(PATH_METADATA, controller) as string | string[] | undefined].flat()[0] ?? '';
    const classPublic = Reflect.getMetadata(PUBLIC_ROUTE, controller) === true;
    const proto = controller.prototype as Record<string, unknown>;
    for (const key of Object.getOwnPropertyNames(proto)) {
      const handler = proto[key];
      if (key === 'constructor' || typeof handler !== 'function') continue;
      const method = Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod | undefined;
      const sub = Reflect.getMetadata(PATH_METADATA, handler) as string | string[] | undefined;
      if (method === undefined || sub === undefined) continue;
      const args = (Reflect.getMetadata(ROUTE_ARGS_METADATA, controller, key) ?? {}) as Record<string, { index: number; data?: unknown }>;
      const types = (Reflect.getMetadata('design:paramtypes', proto, key) ?? []) as Type[];
      const whole = (kind: number): Type | undefined => {
        const arg = Object.entries(args).find(([k, a]) => k.startsWith(`${kind}:`) && a.data === undefined)?.[1];
        const t = arg ? types[arg.index] : undefined;
        return t && t !== Object && t !== String ? t : undefined;
      };
      const headers = Object.entries(args)
        .filter(([k, a]) => k.startsWith(`${HEADERS}:`) && typeof a.data === 'string')
        .map(([, a]) => (a.data as string).toLowerCase());
      const path = `/${[base, [sub].flat()[0] ?? ''].join('/')}`.replace(/\/+/g, '/').replace(/(.)\/$/, '$1').replace(/:([A-Za-z0-9_]+)/g, '{$1}');
      const body = whole(BODY);
      const query = whole(QUERY);
      const params = whole(PARAM);
      routes.push({
        method: RequestMethod[method].toLowerCase(),
        path,
        public: classPublic || Reflect.getMetadata(PUBLIC_ROUTE, handler) === true,
        ...(body ? { body } : {}),
        ...(query ? { query } : {}),
        ...(params ? { params } : {}),
        headers,
      });
    }
  }
  return routes;
}

/** `GET /v1/incidents/{incidentId}/clocks` → `getV1IncidentsIncidentIdClocks`: only for a route the process' table does not name. */
function fallbackOperationId(route: RouteInfo): string {
  const words = route.path.split(/[^A-Za-z0-9]+/).filter(Boolean);
  return route.method + words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join('');
}

/**
 * The schema the ValidationPipe enforces for a DTO class, read from its class-validator
 * decorators (inherited ones included): unknown properties are refused (forbidNonWhitelisted),
 * so `additionalProperties: false`; a property without @IsOptional is required. Nested DTOs
 * are described the same way, under their class name. Descriptions, examples and a union
 * (oneOf) written with @ApiProperty are kept; constraints come from the validators.
 */
function validatorSchema(cls: Type, schemas: Record<string, Schema>, seen: Map<string, Type>): Schema {
  const storage = getMetadataStorage();
  const grouped = storage.groupByPropertyName(storage.getTargetValidationMetadatas(cls, '', true, false));
  const existing = (schemas[cls.name]?.properties ?? {}) as Record<string, Schema>;
  const properties: Record<string, Schema> = {};
  const required: string[] = [];
  for (const [prop, metas] of Object.entries(grouped)) {
    const own: Schema = {};
    const item: Schema = {};
    let optional = false;
    for (const m of metas) {
      // IsOptional, or a ValidateIf (Omittable: validated only when given): not required
      if (m.type === ValidationTypes.CONDITIONAL_VALIDATION) optional = true;
      else if (m.type === ValidationTypes.NESTED_VALIDATION) {
        const nested = nestedClass(cls, prop);
        if (!nested) {
          Object.assign(m.each ? item : own, { type: 'object' }); // its class unknown: at least an object
          continue;
        }
        if (!seen.has(nested.name)) {
          seen.set(nested.name, nested);
          schemas[nested.name] = { ...(schemas[nested.name] ?? {}), ...validatorSchema(nested, schemas, seen) };
        }
        Object.assign(m.each ? item : own, { $ref: `#/components/schemas/${nested.name}` });
      } else constrain(m.each ? item : own, m, own);
    }
    if (Object.keys(item).length > 0) Object.assign(own, { type: 'array', items: '$ref' in item ? { $ref: item.$ref } : item }); // nothing beside a $ref
    const doc = existing[prop] ?? {};
    // A union (oneOf) a custom rule checks is described with @ApiProperty: the validators cannot say it.
    // An array whose items a custom rule checks (no `each` validator) keeps the items @ApiProperty describes.
    const keep = Object.fromEntries(Object.entries(doc).filter(([k]) => ['description', 'example', 'format', 'oneOf'].includes(k) || (k === 'items' && !('items' in own))));
    properties[prop] = '$ref' in own ? (keep.description ? { allOf: [{ $ref: own.$ref }], description: keep.description } : { $ref: own.$ref }) : mergeSchema(keep, own);
    if (!optional) required.push(prop);
  }
  return { type: 'object', properties, ...(required.length > 0 ? { required } : {}), additionalProperties: false };
}

/** class-transformer's own record of @Type(() => X) (the package has no typed export of it). */
const transformerTypes = (createRequire(import.meta.url)('class-transformer/cjs/storage.js') as { defaultMetadataStorage: { findTypeMetadata(target: object, prop: string): { typeFunction(): unknown } | undefined } }).defaultMetadataStorage;

/** The class a @ValidateNested property holds: from @Type(() => X), @ApiProperty({ type }) or the property's design type. */
function nestedClass(cls: Type, prop: string): Type | undefined {
  const transformed = transformerTypes.findTypeMetadata(cls, prop)?.typeFunction();
  if (typeof transformed === 'function' && transformed !== Array && transformed !== Object) return transformed as Type;
  const api = Reflect.getMetadata('swagger/apiModelProperties', cls.prototype as object, prop) as { type?: unknown } | undefined;
  let t = api?.type;
  if (Array.isArray(t)) t = t[0];
  if (typeof t === 'function' && !(t as { prototype?: unknown }).prototype) t = (t as () => unknown)();
  if (typeof t === 'function' && t !== Array && t !== Object) return t as Type;
  const design = Reflect.getMetadata('design:type', cls.prototype as object, prop) as Type | undefined;
  return design && design !== Array && design !== Object ? design : undefined;
}

/** One class-validator decorator as JSON Schema keywords (`array` gets the ones about the array itself when `each`). */
function constrain(s: Schema, m: ValidationMetadata, array: Schema): void {
  const c = m.constraints as unknown[];
  const n = (i: number) => c[i] as number;
  switch (m.name) {
    case 'isString':
      s.type = 'string';
      break;
    case 'isInt':
      s.type = 'integer';
      break;
    case 'isNumber':
      s.type = 'number';
      break;
    case 'isBoolean':
      s.type = 'boolean';
      break;
    case 'isObject':
      s.type = 'object';
      break;
    case 'isArray':
      array.type = 'array';
      break;
    case 'isIn':
      s.enum = [...(c[0] as unknown[])];
      if (s.type === undefined && (c[0] as unknown[]).every((v) => typeof v === 'string')) s.type = 'string';
      break;
    case 'matches': {
      s.type ??= 'string';
      const re = c[0] instanceof RegExp ? c[0] : new RegExp(String(c[0]), typeof c[1] === 'string' ? c[1] : '');
      // A pattern has no flags: a case-insensitive one is left to the format or the description rather than stated stricter than it is.
      if (!re.flags.includes('i')) s.pattern = re.source;
      break;
    }
    case 'isLength':
      s.minLength = n(0);
      if (c[1] !== undefined) s.maxLength = n(1);
      break;
    case 'minLength':
      s.minLength = n(0);
      break;
    case 'maxLength':
      s.maxLength = n(0);
      break;
    case 'min':
      s.minimum = n(0);
      break;
    case 'max':
      s.maximum = n(0);
      break;
    case 'arrayMinSize':
      array.minItems = n(0);
      break;
    case 'arrayMaxSize':
      array.maxItems = n(0);
      break;
    case 'isUuid':
      s.type ??= 'string';
      s.format = 'uuid';
      break;
    default:
      // A custom rule (e.g. visible characters): the server checks more than the schema says; its message says what.
      if (m.name) s.description = [s.description, `checked: ${m.name}`].filter(Boolean).join('; ');
  }
}

/** `base` with `derived`'s constraints; where both bound a length or a value, the stricter one. */
function mergeSchema(base: Schema, derived: Schema): Schema {
  const out: Schema = { ...base, ...derived };
  for (const k of ['minLength', 'minimum', 'minItems'] as const) if (typeof base[k] === 'number' && typeof derived[k] === 'number') out[k] = Math.max(base[k], derived[k]);
  for (const k of ['maxLength', 'maximum', 'maxItems'] as const) if (typeof base[k] === 'number' && typeof derived[k] === 'number') out[k] = Math.min(base[k], derived[k]);
  if (typeof base.description === 'string' && typeof derived.description === 'string' && base.description !== derived.description) out.description = `${base.description} (${derived.description})`;
  return out;
}

/**
 * One dialect: OpenAPI 3.0. A 3.1 `type: [T, 'null']` becomes `type: T, nullable: true`
 * (several non-null types become a oneOf), `const` an enum of one.
 */
export function toOpenApi30(node: unknown): void {
  const stack: unknown[] = [node];
  while (stack.length > 0) {
    const n = stack.pop();
    if (Array.isArray(n)) {
      stack.push(...n);
      continue;
    }
    if (n === null || typeof n !== 'object') continue;
    const o = n as Schema;
    if (Array.isArray(o.type)) {
      const types = o.type as string[];
      const nonNull = types.filter((t) => t !== 'null');
      if (nonNull.length < types.length) o.nullable = true;
      if (nonNull.length === 1) o.type = nonNull[0];
      else {
        delete o.type;
        o.oneOf = nonNull.map((t) => ({ type: t }));
      }
    }
    if ('const' in o && (typeof o.const !== 'object' || o.const === null)) {
      o.enum = [o.const];
      delete o.const;
    }
    stack.push(...Object.values(o));
  }
}
