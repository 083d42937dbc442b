import { IMAGE_PERSONAL } from './domain/image.events.js';
import { EventStore } from '@custos/event-store';
import { PayloadCipher } from '@custos/keys';
import type { CustosContext } from '@custos/kernel';
import { ImageDirectory, StoreImageDirectory } from './image-directory.js';
import { BindStudyHandler, RegisterDicomInstanceHandler, RegisterImageHandler } from './register-image.handler.js';

export const imagingContext: CustosContext = {
  name: 'imaging',
  personal: IMAGE_PERSONAL,
  migrations: [],
  gatewayProviders: () => [RegisterImageHandler, RegisterDicomInstanceHandler, BindStudyHandler, { provide: ImageDirectory, useFactory: (store: EventStore, cipher: PayloadCipher) => new StoreImageDirectory(store, cipher), inject: [EventStore, PayloadCipher] }],
};
