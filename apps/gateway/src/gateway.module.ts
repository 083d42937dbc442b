import { DynamicModule, Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { CustosConfig } from '@custos/platform';
import { CoreModule, HealthController, MetricsController, READINESS_PROBES } from '@custos/runtime';
import type { Logger } from 'pino';

/** The HTTP edge. In embedded mode it also hosts the projections, fed in-process from the store. */
@Module({})
export class GatewayModule {
  static forRoot(config: CustosConfig, logger: Logger): DynamicModule {
    return {
      module: GatewayModule,
      imports: [CoreModule.forRoot(config, logger), TerminusModule],
      controllers: [HealthController, MetricsController],
      providers: [{ provide: READINESS_PROBES, useValue: [] }],
    };
  }
}
