import { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { CustosConfig, PinoNestLogger } from '@custos/platform';
import { configureHttp } from '@custos/runtime';
import type { Logger } from 'pino';
import { GatewayModule } from './gateway.module.js';

/** Builds the gateway exactly as `main` runs it (tests use this too). */
export async function createGatewayApp(config: CustosConfig, logger: Logger): Promise<INestApplication> {
  const app = await NestFactory.create(GatewayModule.forRoot(config, logger), { logger: new PinoNestLogger(logger) });
  app.enableShutdownHooks();
  app.getHttpAdapter().getInstance().disable('x-powered-by');
  configureHttp(app, logger);
  return app;
}
