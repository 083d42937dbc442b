import { type MigrationInterface, type QueryRunner } from 'typeorm';

/** The models read model: each registered model version, and the snapshots it was trained and validated on (no personal field). */
export class Models1764000020300 implements MigrationInterface {
  name = 'Models1764000020300';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE custos_rm_models (
        model_id       text        PRIMARY KEY,
        name           text        NOT NULL,
        version        text        NOT NULL,
        developer      text        NOT NULL,
        registered_at  timestamptz NOT NULL,
        registered_seq bigint      NOT NULL,
        evaluations    integer     NOT NULL DEFAULT 0,
        flagged        integer     NOT NULL DEFAULT 0,
        last_seq       bigint      NOT NULL
      )`);
    await q.query('CREATE INDEX custos_rm_models_registered ON custos_rm_models (registered_seq)');
    await q.query(`
      CREATE TABLE custos_rm_model_snapshots (
        model_id    text NOT NULL,
        dataset_id  text NOT NULL,
        snapshot_id text NOT NULL,
        role        text NOT NULL,
        PRIMARY KEY (model_id, snapshot_id, role)
      )`);
    await q.query('CREATE INDEX custos_rm_model_snapshots_dataset ON custos_rm_model_snapshots (dataset_id, snapshot_id)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE custos_rm_model_snapshots, custos_rm_models');
  }
}
