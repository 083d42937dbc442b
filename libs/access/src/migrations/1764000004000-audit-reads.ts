import { type MigrationInterface, type QueryRunner } from 'typeorm';

/** Reads of audit data join the trail (with how many items they returned); the review queue pages by access sequence. */
export class AuditReads1764000004000 implements MigrationInterface {
  name = 'AuditReads1764000004000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE custos_rm_access_trail ADD COLUMN items_returned integer');
    await q.query('CREATE INDEX custos_rm_emergency_reviews_queue ON custos_rm_emergency_reviews (access_seq) WHERE verdict IS NULL');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX custos_rm_emergency_reviews_queue');
    await q.query('ALTER TABLE custos_rm_access_trail DROP COLUMN items_returned');
  }
}
