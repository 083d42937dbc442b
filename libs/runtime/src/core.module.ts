import { type DynamicModule, Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { Database, EventStore } from '@custos/event-store';
import { Clock, type CustosConfig, Ids, RandomIds, SystemClock } from '@custos/platform';
import type { Logger } from 'pino';
import type { MigrationClass } from './context.js';
import { CUSTOS_CONFIG, LOGGER } from './tokens.js';

/**
 * What every Custos process shares: the validated config, the logger, the Clock and Ids
 * ports, the database (migrated at start, the same migrations in both modes) and the event
 * store over it.
 */
@Global()
@Module({})
export class CoreModule implements OnApplicationShutdown {
  constructor(@Inject(Database) private readonly db: Database) {}

  static forRoot(config: CustosConfig, logger: Logger, migrations: readonly MigrationClass[]): DynamicModule {
    return {
      module: CoreModule,
      providers: [
        { provide: CUSTOS_CONFIG, useValue: config },
        { provide: LOGGER, useValue: logger },
        { provide: Clock, useClass: SystemClock },
        { provide: Ids, useClass: RandomIds },
        { provide: Database, useFactory: () => Database.open(config.database, [...migrations]) },
        { provide: EventStore, useFactory: (db: Database, ids: Ids) => new EventStore(db, { ids }), inject: [Database, Ids] },
      ],
      exports: [CUSTOS_CONFIG, LOGGER, Clock, Ids, Database, EventStore],
    };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.db.close();
  }
}
