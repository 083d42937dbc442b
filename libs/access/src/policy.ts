import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { type CommandContext, EventStore, handle } from '@custos/event-store';
import { Clock } from '@custos/platform';
import { policyDecider } from './domain/access.decide.js';
import { policyStreamId } from './domain/access.events.js';
import { policyCodec } from './access.codec.js';

/** The policy in force in this process: its version, the rules' digest, its parameters. */
export interface PolicyInForce {
  readonly version: string;
  readonly rulesDigest: string;
  readonly parameters: Readonly<Record<string, unknown>>;
}

export const POLICY = Symbol('POLICY');

const SYSTEM: CommandContext = { actor: { id: 'custos', roles: [] }, correlationId: 'policy-activation' };

/**
 * Records the policy version once in the log (`policy-<version>`) when a gateway first runs
 * under it, so `custos verify --decisions` can re-derive decisions with the parameters they
 * were made under. Two gateways starting at once: one records it, the other sees it there.
 */
@Injectable()
export class PolicyActivation implements OnApplicationBootstrap {
  constructor(
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(Clock) private readonly clock: Clock,
    @Inject(POLICY) private readonly policy: PolicyInForce,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const data = { policyVersion: this.policy.version, rulesDigest: this.policy.rulesDigest, parameters: this.policy.parameters };
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await handle(this.store, policyStreamId(this.policy.version), policyDecider, { type: 'ActivatePolicy', data }, SYSTEM, { codec: policyCodec, now: this.clock.now() });
        return;
      } catch (e) {
        if ((e as { code?: string }).code !== 'concurrency-conflict') throw e;
      }
    }
  }
}
