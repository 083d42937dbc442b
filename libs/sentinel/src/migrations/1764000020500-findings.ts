import { type MigrationInterface, type QueryRunner } from 'typeorm';

/** The findings read model behind `GET /v1/findings` (filters, cursor paging, totals; a finding's history is read from its stream). */
export class Findings1764000020500 implements MigrationInterface {
  name = 'Findings1764000020500';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE custos_rm_findings (
        finding_id   text PRIMARY KEY,
        rule         text NOT NULL,
        rule_version integer NOT NULL,
        state        text NOT NULL,
        dataset_id   text,
        model_id     text,
        summary      text NOT NULL,
        facts        jsonb NOT NULL,
        evidence     jsonb NOT NULL,
        raised_at    timestamptz NOT NULL,
        updated_at   timestamptz NOT NULL,
        raised_seq   bigint NOT NULL
      )`);
    await q.query('CREATE INDEX custos_rm_findings_raised ON custos_rm_findings (raised_at DESC, finding_id DESC)');
    await q.query('CREATE INDEX custos_rm_findings_dataset ON custos_rm_findings (dataset_id)');
    await q.query('CREATE INDEX custos_rm_findings_model ON custos_rm_findings (model_id)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE custos_rm_findings');
  }
}
