import { type MigrationInterface, type QueryRunner } from 'typeorm';

/** Witnesses' cosignatures of checkpoints, kept beside them and put in exports. */
export class Cosignatures1764000012000 implements MigrationInterface {
  name = 'Cosignatures1764000012000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE custos_log_cosignatures (
        tree_size   bigint      NOT NULL,
        witness_url text        NOT NULL,
        witness     text        NOT NULL,
        cosignature text        NOT NULL,
        created_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tree_size, witness_url)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE custos_log_cosignatures');
  }
}
