import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * The verifiable log: the RFC 9162 tree over the global sequence, kept as perfect subtree
 * nodes only (`(level, idx)` covers leaves [idx·2^level, (idx+1)·2^level)), the integrated
 * size and root, and the signed checkpoints.
 */
export class Log1764000009000 implements MigrationInterface {
  name = 'Log1764000009000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE custos_log_nodes (
        level smallint NOT NULL,
        idx   bigint   NOT NULL,
        hash  bytea    NOT NULL,
        PRIMARY KEY (level, idx)
      )`);
    await q.query(`
      CREATE TABLE custos_log_head (
        id   smallint PRIMARY KEY CHECK (id = 1),
        size bigint   NOT NULL,
        root bytea    NOT NULL
      )`);
    await q.query(`
      CREATE TABLE custos_log_checkpoints (
        tree_size  bigint      PRIMARY KEY,
        root       bytea       NOT NULL,
        body       text        NOT NULL,
        jws        text        NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE custos_log_checkpoints, custos_log_head, custos_log_nodes');
  }
}
