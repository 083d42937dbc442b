import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Accesses other systems report (FHIR AuditEvent ingest) join the trail, marked as reported:
 * by which source, under which AuditEvent id, with the outcome and the time the source gives.
 */
export class ReportedAccesses1764000019300 implements MigrationInterface {
  name = 'ReportedAccesses1764000019300';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE custos_rm_access_trail ADD COLUMN reported_by text, ADD COLUMN reported_id text, ADD COLUMN reported_outcome text, ADD COLUMN reported_at timestamptz');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE custos_rm_access_trail DROP COLUMN reported_by, DROP COLUMN reported_id, DROP COLUMN reported_outcome, DROP COLUMN reported_at');
  }
}
