import { type MigrationInterface, type QueryRunner } from 'typeorm';

/** Every review of an annotation (verdict, who, when): what the quality audit aggregates. */
export class AnnotationReviews1764000008000 implements MigrationInterface {
  name = 'AnnotationReviews1764000008000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE custos_rm_annotation_reviews (
        global_seq    bigint      PRIMARY KEY,
        annotation_id text        NOT NULL,
        dataset_id    text        NOT NULL,
        verdict       text        NOT NULL,
        reviewer      text        NOT NULL,
        reviewed_at   timestamptz NOT NULL
      )`);
    await q.query('CREATE INDEX custos_rm_annotation_reviews_annotation ON custos_rm_annotation_reviews (annotation_id)');
    await q.query('CREATE INDEX custos_rm_annotation_reviews_dataset ON custos_rm_annotation_reviews (dataset_id)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE custos_rm_annotation_reviews');
  }
}
