import type { Provider, Type } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { CqrsModule } from '@nestjs/cqrs';
import { ACCESS_COMMAND_HANDLERS, AccessQueries, ConsentPort } from '@custos/access';
import type { Purpose } from '@custos/authz';
import { CONSENT_COMMAND_HANDLERS, ConsentQueries, ConsentReceipts, ReceiptSigner, StoreConsent } from '@custos/consent';
import { Database, EventStore } from '@custos/event-store';
import { CombinedKeys, DevIssuer, FileJwks, JwtVerifier, KeySource, RemoteJwks } from '@custos/identity';
import type { CustosConfig } from '@custos/platform';
import { EmbeddedProjections, ProcessSpec } from '@custos/runtime';
import { AccessController } from './access/access.controller.js';
import { ConsentController } from './consent/consent.controller.js';
import { AuthGuard } from './auth/auth.guard.js';
import { DevTokensController, JwksController } from './auth/auth.controller.js';

/**
 * The HTTP edge: authentication (JWT) and authorization (CASL) on every route, access
 * decisions, images, trails. In embedded mode it also hosts the projections, fed in process
 * from the store; in distributed mode the relay and projector run as their own processes.
 */
export function gatewaySpec(config: CustosConfig): ProcessSpec {
  const auth = config.auth;
  const consentDefaults = { granted: config.consent.defaultGranted as Purpose[] };
  const providers: Provider[] = [
    ...ACCESS_COMMAND_HANDLERS,
    { provide: AccessQueries, useFactory: (db: Database) => new AccessQueries(db), inject: [Database] },
    ...CONSENT_COMMAND_HANDLERS,
    { provide: ConsentPort, useFactory: (store: EventStore) => new StoreConsent(store, consentDefaults), inject: [EventStore] },
    { provide: ReceiptSigner, useFactory: () => ReceiptSigner.open(config.consent.receiptKeyFile) },
    { provide: ConsentReceipts, useFactory: (signer: ReceiptSigner) => new ConsentReceipts(signer, 'custos'), inject: [ReceiptSigner] },
    { provide: ConsentQueries, useFactory: (store: EventStore, db: Database) => new ConsentQueries(store, db, consentDefaults), inject: [EventStore, Database] },
    {
      provide: JwtVerifier,
      useFactory: (dev?: DevIssuer) => {
        const sources: KeySource[] = [];
        if (auth.jwksUrl) sources.push(new RemoteJwks(auth.jwksUrl));
        if (auth.jwksFile) sources.push(new FileJwks(auth.jwksFile));
        if (dev) sources.push(dev);
        return new JwtVerifier(new CombinedKeys(sources), { issuer: auth.issuer, audience: auth.audience, algorithms: auth.algorithms, clockSkewSeconds: auth.clockSkewSeconds });
      },
      inject: auth.devIssuer ? [DevIssuer] : [],
    },
    { provide: APP_GUARD, useClass: AuthGuard },
  ];
  const controllers: Type[] = [JwksController, AccessController, ConsentController];
  if (auth.devIssuer) {
    providers.push({ provide: DevIssuer, useFactory: () => DevIssuer.open({ ...(auth.devKeyFile ? { keyFile: auth.devKeyFile } : {}), issuer: auth.issuer, audience: auth.audience }) });
    controllers.push(DevTokensController);
  }
  if (config.mode === 'embedded') providers.push(EmbeddedProjections);
  return { name: 'gateway', providers, controllers, imports: [CqrsModule.forRoot()] };
}
