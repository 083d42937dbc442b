import { Access1764000002000 } from '@custos/access';
import { Consent1764000003000 } from '@custos/consent';
import { EventStore1764000000000 } from '@custos/event-store';
import { Projections1764000001000 } from '@custos/projections';

/** Every migration, in order: run at start by every process, in both modes, and by the tests. */
export const ALL_MIGRATIONS = [EventStore1764000000000, Projections1764000001000, Access1764000002000, Consent1764000003000];
