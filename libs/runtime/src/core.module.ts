import { type DynamicModule, Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { Database, EventStore } from '@custos/event-store';
import { KeyService, openKek, PayloadCipher } from '@custos/keys';
import { Clock, type CustosConfig, Ids, RandomIds, SystemClock } from '@custos/platform';
import type { Logger } from 'pino';
import type { MigrationClass } from '@custos/kernel';
import { CUSTOS_CONFIG, LOGGER } from '@custos/kernel';

/**
 * What every Custos process shares: the validated config, the logger, the Clock and Ids
 * ports, the database (migrated at start, the same migrations in both modes) and the event
 * store over it.
 */
@Global()
@Module({})
export class CoreModule implements OnApplicationShutdown {
  constructor(@Inject(Database) private readonly db: Database) {}

  /**
   * `personal`: the processes that write or read personal fields (the gateway) open the key
   * service and seal every append with it; the relay and projector never hold a key.
   */
  static forRoot(config: CustosConfig, logger: Logger, migrations: readonly MigrationClass[], personal?: Readonly<Record<string, readonly string[]>>): DynamicModule {
    const keyProviders = personal
      ? [
          {
            provide: KeyService,
            useFactory: async (db: Database) => {
              const keys = new KeyService(db, await openKek(config.keys.kek, (m) => logger.warn(m)));
              await keys.checkKek(config.keys.kek.kind === 'inline' ? 'KEK' : config.keys.kek.kind === 'file' ? 'KEK_FILE' : 'DATA_DIR');
              return keys;
            },
            inject: [Database],
          },
          { provide: PayloadCipher, useFactory: (keys: KeyService) => new PayloadCipher(keys, personal), inject: [KeyService] },
        ]
      : [];
    return {
      module: CoreModule,
      providers: [
        { provide: CUSTOS_CONFIG, useValue: config },
        { provide: LOGGER, useValue: logger },
        { provide: Clock, useClass: SystemClock },
        { provide: Ids, useClass: RandomIds },
        { provide: Database, useFactory: () => Database.open(config.database, [...migrations]) },
        ...keyProviders,
        personal
          ? { provide: EventStore, useFactory: (db: Database, ids: Ids, sealer: PayloadCipher) => new EventStore(db, { ids, sealer }), inject: [Database, Ids, PayloadCipher] }
          : { provide: EventStore, useFactory: (db: Database, ids: Ids) => new EventStore(db, { ids }), inject: [Database, Ids] },
      ],
      exports: [CUSTOS_CONFIG, LOGGER, Clock, Ids, Database, EventStore, ...(personal ? [KeyService, PayloadCipher] : [])],
    };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.db.close();
  }
}
