import { EventStore } from '@custos/event-store';
import type { CustosContext } from '@custos/runtime';
import { ImageDirectory, StoreImageDirectory } from './image-directory.js';
import { RegisterImageHandler } from './register-image.handler.js';

export const imagingContext: CustosContext = {
  name: 'imaging',
  migrations: [],
  gatewayProviders: () => [RegisterImageHandler, { provide: ImageDirectory, useFactory: (store: EventStore) => new StoreImageDirectory(store), inject: [EventStore] }],
};
