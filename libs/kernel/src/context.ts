import type { Provider } from '@nestjs/common';
import type { CustosConfig } from '@custos/platform';
import type { Projection } from '@custos/projections';
import type { MigrationInterface } from 'typeorm';

export type MigrationClass = new () => MigrationInterface;

/**
 * A bounded context describes itself once: its migrations (run by every process and the
 * tests), its read models (live projection and replay use the same list) and the providers
 * the gateway needs for it. The apps, CLI and tests list the contexts in one place
 * (`@custos/contexts`); this lib knows none of them.
 */
export interface CustosContext {
  readonly name: string;
  readonly migrations: readonly MigrationClass[];
  /** Event type → its personal fields (declared next to the event types), sealed when stored. */
  readonly personal?: Readonly<Record<string, readonly string[]>>;
  projections?(): readonly Projection[];
  gatewayProviders?(config: CustosConfig): readonly Provider[];
}

export function migrationsOf(contexts: readonly CustosContext[]): MigrationClass[] {
  return contexts.flatMap((c) => [...c.migrations]);
}

export function projectionsOf(contexts: readonly CustosContext[]): Projection[] {
  return contexts.flatMap((c) => [...(c.projections?.() ?? [])]);
}

/** Every context's personal fields, in one table: what the key service's cipher seals. */
export function personalFieldsOf(contexts: readonly CustosContext[]): Record<string, readonly string[]> {
  return Object.assign({}, ...contexts.map((c) => c.personal ?? {})) as Record<string, readonly string[]>;
}
