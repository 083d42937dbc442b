import type { INestApplication } from '@nestjs/common';
import type { CustosConfig } from '@custos/platform';
import { createProcessApp } from '@custos/runtime';
import type { Logger } from 'pino';
import { gatewaySpec } from './gateway.module.js';

/** Builds the gateway exactly as `main` runs it (tests use this too). */
export function createGatewayApp(config: CustosConfig, logger: Logger): Promise<INestApplication> {
  return createProcessApp(gatewaySpec(config), config, logger);
}
