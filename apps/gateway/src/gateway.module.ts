import type { Provider, Type } from '@nestjs/common';
import { APP_GUARD, APP_INTERCEPTOR } from '@nestjs/core';
import { CqrsModule } from '@nestjs/cqrs';
import { AccessRecorder, ConsentPort, POLICY } from '@custos/access';
import { CONSENT_RULES, ConsentReader, DatasetModels, DatasetSnapshots, LegalClaimsRetention } from '@custos/consent';
import { consentPortFrom, CONTEXTS, datasetModelsFrom, datasetSnapshotsFrom, legalClaimsRetentionFrom, logReadRecorderFrom, PERSONAL_FIELDS, policyInForce, trainingConsentFrom } from '@custos/contexts';
import { TrainingConsent } from '@custos/fairness';
import { ModelController } from './fairness/model.controller.js';
import { Database } from '@custos/event-store';
import { JwksHandler, KeyService } from '@custos/keys';
import { LOG_QUERY_HANDLERS, LogIntegrator, LogReadRecorder } from '@custos/log';
import { SentinelHost } from '@custos/sentinel';
import { IncidentController, ReferenceController, SiemController } from './incidents/incident.controller.js';
import { FindingController } from './findings/finding.controller.js';
import { DevIssuer, FileJwks, JwtVerifier, RemoteJwks, type TrustedIssuer } from '@custos/identity';
import type { CustosConfig } from '@custos/platform';
import { EmbeddedProjections, type ProcessSpec } from '@custos/runtime';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { UnauthenticatedError } from '@custos/errors';
import { AccessController } from './access/access.controller.js';
import { AuditIngestController } from './audit/audit-ingest.controller.js';
import { AnnotationController } from './annotation/annotation.controller.js';
import { BalanceController } from './fairness/balance.controller.js';
import { ExportController, LogController } from './log/log.controller.js';
import { AuditedReadInterceptor, RecordRefusalsInterceptor } from './audit/audit.interceptors.js';
import { AuthGuard } from './auth/auth.guard.js';
import { DevTokensController, JwksController } from './auth/auth.controller.js';
import { ConsentController } from './consent/consent.controller.js';
import { GATEWAY_OPENAPI } from './openapi.js';
import { DataProtectionController } from './consent/data-protection.controller.js';
import { DicomwebController } from './dicomweb/dicomweb.controller.js';

/**
 * The HTTP edge: authentication (JWT) and authorization (CASL) on every route, access
 * decisions, images, trails, consent. It wires the contexts together (access reads consent
 * through ConsentPort; neither depends on the other). In embedded mode it also hosts the
 * projections, fed in process from the store.
 */
export function gatewaySpec(config: CustosConfig): ProcessSpec {
  const auth = config.auth;
  const providers: Provider[] = [
    ...CONTEXTS.flatMap((c) => [...(c.gatewayProviders?.(config) ?? [])]),
    {
      provide: ConsentPort,
      useFactory: consentPortFrom,
      inject: [ConsentReader],
    },
    { provide: POLICY, useFactory: policyInForce, inject: [CONSENT_RULES] },
    { provide: DatasetSnapshots, useFactory: datasetSnapshotsFrom, inject: [Database] },
    { provide: DatasetModels, useFactory: datasetModelsFrom, inject: [Database] },
    { provide: TrainingConsent, useFactory: trainingConsentFrom, inject: [Database] },
    { provide: LegalClaimsRetention, useFactory: legalClaimsRetentionFrom, inject: [Database] },
    {
      provide: JwtVerifier,
      useFactory: (dev?: DevIssuer) => {
        const trusted: TrustedIssuer[] = [];
        if (auth.jwksUrl) trusted.push({ issuer: auth.issuer, keys: new RemoteJwks(auth.jwksUrl) });
        if (auth.jwksFile) trusted.push({ issuer: auth.issuer, keys: new FileJwks(auth.jwksFile) });
        if (dev) trusted.push({ issuer: auth.devIssuerName, keys: dev });
        return new JwtVerifier(trusted, { audience: auth.audience, algorithms: auth.algorithms, clockSkewSeconds: auth.clockSkewSeconds, cacheBytes: auth.tokenCacheBytes });
      },
      inject: auth.devIssuer ? [DevIssuer] : [],
    },
    AuditedReadInterceptor,
    LogIntegrator,
    ...LOG_QUERY_HANDLERS,
    JwksHandler,
    { provide: LogReadRecorder, useFactory: logReadRecorderFrom, inject: [AccessRecorder] },
    { provide: APP_GUARD, useClass: AuthGuard },
    { provide: APP_INTERCEPTOR, useClass: RecordRefusalsInterceptor },
  ];
  const controllers: Type[] = [JwksController, AccessController, AuditIngestController, ConsentController, DataProtectionController, AnnotationController, LogController, ExportController, ReferenceController, IncidentController, SiemController, DicomwebController, BalanceController, ModelController, FindingController];
  if (auth.devIssuer) {
    providers.push({ provide: DevIssuer, useFactory: (keys: KeyService) => DevIssuer.open({ keys, ...(auth.devKeyFile ? { legacyKeyFile: auth.devKeyFile } : {}), issuer: auth.devIssuerName, audience: auth.audience }), inject: [KeyService] });
    controllers.push(DevTokensController);
  }
  // Embedded mode hosts the projections and the sentinel in process; distributed mode runs apps/projector and apps/sentinel.
  if (config.mode === 'embedded') providers.push(EmbeddedProjections, SentinelHost);
  return { name: 'gateway', contexts: CONTEXTS, personal: PERSONAL_FIELDS, providers, controllers, imports: [CqrsModule.forRoot()], openapi: GATEWAY_OPENAPI, bodyParsers: [{ contentType: 'multipart/related', maxBytes: config.dicomweb?.maxStowBytes ?? 1024 * 1024 }], configure: authenticateBeforeLargeBodies };
}

/**
 * A STOW-RS body may be hundreds of megabytes: its token is checked before the body is read (an
 * onRequest hook), so nobody unauthenticated makes the gateway take in a large body. The guard
 * checks the token again (from the verifier's cache) with the route's permission, as for any route.
 */
function authenticateBeforeLargeBodies(app: NestFastifyApplication): void {
  const verifier = app.get(JwtVerifier);
  app
    .getHttpAdapter()
    .getInstance()
    .addHook('onRequest', async (req: { method: string; headers: Record<string, string | string[] | undefined> }) => {
      const type = req.headers['content-type'];
      if (req.method !== 'POST' || typeof type !== 'string' || !type.toLowerCase().startsWith('multipart/')) return;
      const header = req.headers.authorization;
      const match = typeof header === 'string' ? /^Bearer ([A-Za-z0-9._~+/=-]{1,16384})$/.exec(header) : null;
      if (!match) throw new UnauthenticatedError('a bearer token is required', 'token-missing');
      await verifier.verify(match[1] as string);
    });
}
