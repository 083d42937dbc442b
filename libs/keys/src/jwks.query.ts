import { Inject } from '@nestjs/common';
import { type IQueryHandler, Query, QueryHandler } from '@nestjs/cqrs';
import { KeyService } from './key-service.js';

export class JwksQuery extends Query<{ keys: object[] }> {}

/** Every public key still needed to verify something Custos signed (/.well-known/jwks.json). */
@QueryHandler(JwksQuery)
export class JwksHandler implements IQueryHandler<JwksQuery, { keys: object[] }> {
  constructor(@Inject(KeyService) private readonly keys: KeyService) {}

  execute(): Promise<{ keys: object[] }> {
    return this.keys.jwks();
  }
}
