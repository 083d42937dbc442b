import { type MigrationInterface, type QueryRunner } from 'typeorm';

/** The review queue keeps the emergency reason and the review note sealed (as stored in the log). */
export class SealedReviews1764000006000 implements MigrationInterface {
  name = 'SealedReviews1764000006000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE custos_rm_emergency_reviews ADD COLUMN reason_sealed text, ADD COLUMN note_sealed text');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE custos_rm_emergency_reviews DROP COLUMN reason_sealed, DROP COLUMN note_sealed');
  }
}
