import type { Sql } from '@custos/event-store';
import { DecodedProjection, type ProjectedEvent } from '@custos/projections';
import type { FindingEvent } from './domain/finding.decide.js';
import { findingCodec } from './sentinel-runner.js';

/**
 * One row per finding for listing and filtering (state, rule, dataset, model), rebuilt by
 * replay. A finding's events share a stream, so they arrive in order; its notes are read
 * from the stream.
 */
export class FindingsProjection extends DecodedProjection<FindingEvent> {
  readonly name = 'findings';
  readonly tables = ['custos_rm_findings'];

  constructor() {
    super(findingCodec);
  }

  protected async project(sql: Sql, e: ProjectedEvent<FindingEvent>): Promise<void> {
    if (e.type === 'FindingRaised') {
      const d = e.data;
      await sql.execute(
        `INSERT INTO custos_rm_findings (finding_id, rule, rule_version, state, dataset_id, model_id, summary, facts, evidence, raised_at, updated_at, raised_seq)
         VALUES ($1, $2, $3, 'open', $4, $5, $6, $7, $8, $9, $9, $10) ON CONFLICT (finding_id) DO NOTHING`,
        [d.findingId, d.rule, d.ruleVersion, d.datasetId ?? null, d.modelId ?? null, d.summary, JSON.stringify(d.facts), JSON.stringify(d.evidence), d.at, e.globalSeq],
      );
      return;
    }
    const d = e.data;
    await sql.execute('UPDATE custos_rm_findings SET state = $2, updated_at = GREATEST(updated_at, $3) WHERE finding_id = $1', [d.findingId, d.to, d.at]);
  }
}
