import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { ConcurrencyError } from '@custos/errors';
import { type CommandContext, EventStore } from '@custos/event-store';
import { Clock } from '@custos/platform';
import { policyStreamId } from './domain/access.events.js';
import { policyShell } from './access.codec.js';

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
  private readonly shell;

  constructor(
    @Inject(EventStore) store: EventStore,
    @Inject(Clock) clock: Clock,
    @Inject(POLICY) private readonly policy: PolicyInForce,
  ) {
    this.shell = policyShell(store, clock);
  }

  async onApplicationBootstrap(): Promise<void> {
    const data = { policyVersion: this.policy.version, rulesDigest: this.policy.rulesDigest, parameters: this.policy.parameters };
    try {
      await this.shell.handle(policyStreamId(this.policy.version), { type: 'ActivatePolicy', data }, SYSTEM);
    } catch (e) {
      // Still racing after three attempts: the others record it; this gateway starts anyway.
      if (!(e instanceof ConcurrencyError && e.code === 'concurrency-conflict')) throw e;
    }
  }
}
