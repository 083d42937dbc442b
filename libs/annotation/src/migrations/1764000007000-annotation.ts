import { type MigrationInterface, type QueryRunner } from 'typeorm';

/** The annotation context's read model: every annotation with its image, label and status (no personal field). */
export class Annotation1764000007000 implements MigrationInterface {
  name = 'Annotation1764000007000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE custos_rm_annotations (
        annotation_id text        PRIMARY KEY,
        image_id      text        NOT NULL,
        dataset_id    text        NOT NULL,
        patient_id    text        NOT NULL,
        label         text        NOT NULL,
        status        text        NOT NULL,
        version       integer     NOT NULL,
        deleted       boolean     NOT NULL DEFAULT false,
        created_by    text        NOT NULL,
        created_at    timestamptz NOT NULL,
        updated_at    timestamptz NOT NULL,
        last_seq      bigint      NOT NULL
      )`);
    await q.query('CREATE INDEX custos_rm_annotations_image ON custos_rm_annotations (image_id, created_at)');
    await q.query('CREATE INDEX custos_rm_annotations_dataset ON custos_rm_annotations (dataset_id)');
    await q.query(`
      CREATE TABLE custos_rm_snapshot_images (
        snapshot_id text        NOT NULL,
        dataset_id  text        NOT NULL,
        image_id    text        NOT NULL,
        taken_at    timestamptz NOT NULL,
        PRIMARY KEY (snapshot_id, image_id)
      )`);
    await q.query('CREATE INDEX custos_rm_snapshot_images_dataset ON custos_rm_snapshot_images (dataset_id, image_id)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE custos_rm_snapshot_images, custos_rm_annotations');
  }
}
