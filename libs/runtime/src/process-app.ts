import type { Duplex } from 'node:stream';
import { type DynamicModule, Inject, Injectable, type INestApplication, Module, type OnApplicationBootstrap, type Provider, type Type } from '@nestjs/common';
import { HttpAdapterHost, NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { TerminusModule } from '@nestjs/terminus';
import { ConfigError, createLogger, type CustosConfig, loadConfig, PinoNestLogger } from '@custos/platform';
import type { Logger } from 'pino';
import { CoreModule } from './core.module.js';
import { type CustosContext, migrationsOf, projectionsOf } from '@custos/kernel';
import { HealthController } from './health.controller.js';
import { BODY_LIMIT_BYTES, configureHttp, correlationIdOf, MAX_PARAM_LENGTH, routerErrors } from './http.js';
import { MetricsController } from './metrics.controller.js';
import { contractDocument, type OpenApiSpec } from './openapi.js';
import { kafkaReadiness, PROJECTIONS } from './processes.js';
import { READINESS_PROBES } from '@custos/kernel';

/**
 * Makes Fastify ready once Nest has registered the routes (`app.init()`), so an app driven
 * through `getHttpServer()` (the tests) routes exactly like a listening one.
 */
@Injectable()
class FastifyReady implements OnApplicationBootstrap {
  constructor(@Inject(HttpAdapterHost) private readonly host: HttpAdapterHost) {}

  async onApplicationBootstrap(): Promise<void> {
    await (this.host.httpAdapter.getInstance() as { ready(): Promise<unknown> }).ready();
  }
}

/** Loads and validates the configuration, or stops the process with a message naming the variable. */
export function configOrExit(env: NodeJS.ProcessEnv = process.env): CustosConfig {
  try {
    return loadConfig(env);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.message}\n`);
      process.exit(1);
    }
    throw e;
  }
}

export interface ProcessSpec {
  name: string;
  /** The contexts this process runs: their migrations and read models. */
  contexts: readonly CustosContext[];
  controllers?: Type[];
  providers?: Provider[];
  imports?: DynamicModule['imports'];
  /** Personal fields of the events this process writes or reads: it then holds the key service. */
  personal?: Readonly<Record<string, readonly string[]>>;
  /** How the process completes its OpenAPI document (operationIds, headers it sets). */
  openapi?: OpenApiSpec;
  /** Body parsers beyond JSON that the process's routes take (the gateway's STOW-RS takes multipart/related). */
  bodyParsers?: ReadonlyArray<{ contentType: string; maxBytes: number }>;
  /** Last touches on the HTTP server once the providers exist (hooks that run before a body is read). */
  configure?(app: NestFastifyApplication): void;
}

/**
 * A Custos process as a Nest HTTP app: core (config, logger, database, store), /health with
 * the database and Kafka where configured, /metrics, /docs, problem+json errors, plus what
 * the process adds.
 */
export async function createProcessApp(spec: ProcessSpec, config: CustosConfig, logger: Logger): Promise<INestApplication> {
  @Module({})
  class ProcessModule {}
  const root: DynamicModule = {
    module: ProcessModule,
    imports: [CoreModule.forRoot(config, logger, migrationsOf(spec.contexts), spec.personal), TerminusModule, ...(spec.imports ?? [])],
    controllers: [HealthController, MetricsController, ...(spec.controllers ?? [])],
    providers: [FastifyReady, { provide: READINESS_PROBES, useValue: kafkaReadiness(config, logger) }, { provide: PROJECTIONS, useFactory: () => projectionsOf(spec.contexts) }, ...(spec.providers ?? [])],
  };
  // Fastify: its JSON parser, its body limit, its request id as the correlation id; Nest's own
  // body parsing (which would add url-encoded forms) stays off.
  // A `__proto__` or `constructor.prototype` key is refused by the input guard with its own code
  // (forbidden-key), not by the JSON parser as if the body were not JSON.
  // What the router refuses itself (an over-long path parameter, an undecodable URL) is problem+json too.
  const adapter = new FastifyAdapter({
    bodyLimit: BODY_LIMIT_BYTES,
    genReqId: correlationIdOf,
    return503OnClosing: true,
    onProtoPoisoning: 'ignore',
    onConstructorPoisoning: 'ignore',
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors: routerErrors(logger),
    clientErrorHandler: clientError,
  });
  // abortOnError off: a boot failure (a missing KEK) is thrown to runProcess, which logs it and exits 1.
  const app = await NestFactory.create<NestFastifyApplication>(root, adapter, { logger: new PinoNestLogger(logger), bodyParser: false, abortOnError: false });
  app.enableShutdownHooks();
  for (const parser of spec.bodyParsers ?? []) {
    // Taken whole as bytes, up to its own limit; the route checks the framing. The input guard does not walk them.
    app.getHttpAdapter().getInstance().addContentTypeParser(parser.contentType, { parseAs: 'buffer', bodyLimit: parser.maxBytes }, (_req: unknown, body: Buffer, done: (err: Error | null, body?: Buffer) => void) => done(null, body));
  }
  spec.configure?.(app);
  configureHttp(app, logger, (a) => contractDocument(a, [HealthController, MetricsController, ...(spec.controllers ?? [])], spec.openapi));
  return app;
}

/**
 * What Node's HTTP parser refuses before any route (a request line or headers beyond its 16 KB,
 * say a query of 10,000 keys; a request that is not HTTP) is answered as problem+json too.
 */
function clientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (!socket.writable) return;
  const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
  const status = tooLarge ? 431 : 400;
  const body = JSON.stringify({
    type: `https://custos.dev/problems/${tooLarge ? 'headers-too-large' : 'bad-request'}`,
    title: tooLarge ? 'Request Header Fields Too Large' : 'Bad Request',
    status,
    detail: tooLarge ? 'the request line and headers exceed 16 KB (a query string that long is refused)' : 'the request is not well-formed HTTP',
    code: tooLarge ? 'headers-too-large' : 'bad-request',
  });
  socket.end(`HTTP/1.1 ${status} ${tooLarge ? 'Request Header Fields Too Large' : 'Bad Request'}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

/** main() of every Custos process. */
export async function runProcess(spec: ProcessSpec, defaultPort?: number): Promise<void> {
  // Whatever this process creates (data files, keys) is its owner's alone.
  process.umask(0o077);
  const config = configOrExit(defaultPort && !process.env.PORT ? { ...process.env, PORT: String(defaultPort) } : process.env);
  const logger = createLogger(config.logLevel, `custos-${spec.name}`);
  try {
    const app = await createProcessApp(spec, config, logger);
    await app.listen(config.http.port, config.http.host);
    logger.info({ mode: config.mode, url: await app.getUrl(), store: config.database.kind }, `custos ${spec.name} listening`);
  } catch (e) {
    logger.fatal({ err: { message: (e as Error).message, stack: (e as Error).stack } }, `custos ${spec.name} failed to start`);
    process.exit(1);
  }
}
