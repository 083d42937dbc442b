import { type MigrationInterface, type QueryRunner } from 'typeorm';

/** Projection bookkeeping (checkpoint + ledger) and the foundation's read models. */
export class Projections1764000001000 implements MigrationInterface {
  name = 'Projections1764000001000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE custos_projection_checkpoint (
        projector text   PRIMARY KEY,
        position  bigint NOT NULL
      )`);
    await q.query(`
      CREATE TABLE custos_projection_ledger (
        projector  text   NOT NULL,
        global_seq bigint NOT NULL,
        PRIMARY KEY (projector, global_seq)
      )`);
    await q.query(`
      CREATE TABLE custos_rm_streams (
        stream_id   text        PRIMARY KEY,
        category    text        NOT NULL,
        version     integer     NOT NULL,
        event_count integer     NOT NULL,
        first_seq   bigint      NOT NULL,
        last_seq    bigint      NOT NULL,
        last_type   text        NOT NULL,
        last_at     timestamptz NOT NULL
      )`);
    await q.query('CREATE INDEX custos_rm_streams_category ON custos_rm_streams (category, stream_id)');
    await q.query(`
      CREATE TABLE custos_rm_event_types (
        type        text    PRIMARY KEY,
        event_count integer NOT NULL,
        last_seq    bigint  NOT NULL
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE custos_rm_event_types, custos_rm_streams, custos_projection_ledger, custos_projection_checkpoint');
  }
}
