import { type MigrationInterface, type QueryRunner } from 'typeorm';

/** Events quarantined for one projection (it could not apply them; the others did). */
export class ProjectionFaults1764000015100 implements MigrationInterface {
  name = 'ProjectionFaults1764000015100';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE custos_projection_faults (
        projector   text        NOT NULL,
        projection  text        NOT NULL,
        global_seq  bigint      NOT NULL,
        event_id    text        NOT NULL,
        event_type  text        NOT NULL,
        code        text        NOT NULL,
        error       text        NOT NULL,
        recorded_at timestamptz NOT NULL,
        PRIMARY KEY (projector, projection, global_seq)
      )`);
    await q.query('CREATE INDEX custos_projection_faults_seq ON custos_projection_faults (projector, global_seq)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE custos_projection_faults');
  }
}
