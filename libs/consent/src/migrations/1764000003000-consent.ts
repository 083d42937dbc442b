import { type MigrationInterface, type QueryRunner } from 'typeorm';

/** Read models of the consent context. */
export class Consent1764000003000 implements MigrationInterface {
  name = 'Consent1764000003000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE custos_rm_dataset_images (
        image_id    text   PRIMARY KEY,
        dataset_id  text   NOT NULL,
        patient_id  text   NOT NULL,
        entered_seq bigint NOT NULL
      )`);
    await q.query('CREATE INDEX custos_rm_dataset_images_dataset ON custos_rm_dataset_images (dataset_id, patient_id)');
    await q.query(`
      CREATE TABLE custos_rm_ai_training_withdrawals (
        global_seq  bigint      PRIMARY KEY,
        patient_id  text        NOT NULL,
        occurred_at timestamptz NOT NULL
      )`);
    await q.query('CREATE INDEX custos_rm_ai_training_withdrawals_patient ON custos_rm_ai_training_withdrawals (patient_id)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE custos_rm_ai_training_withdrawals, custos_rm_dataset_images');
  }
}
