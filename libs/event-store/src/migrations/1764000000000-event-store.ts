import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * The event store: the append-only, hash-chained log; the chain head appenders serialise on;
 * the transactional outbox the relay drains into Kafka (written in the same statement as the
 * events, so it needs no foreign key, which would cost one index probe per event). UPDATE, DELETE and TRUNCATE on the
 * log are refused by triggers, so not even a bug in Custos can rewrite history.
 */
export class EventStore1764000000000 implements MigrationInterface {
  name = 'EventStore1764000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE custos_events (
        global_seq     bigint      PRIMARY KEY CHECK (global_seq >= 0),
        event_id       uuid        NOT NULL UNIQUE,
        stream_id      text        NOT NULL CHECK (length(stream_id) BETWEEN 1 AND 200),
        version        integer     NOT NULL CHECK (version >= 1),
        type           text        NOT NULL CHECK (length(type) BETWEEN 1 AND 200),
        schema_version integer     NOT NULL CHECK (schema_version >= 1),
        data           jsonb       NOT NULL,
        metadata       jsonb       NOT NULL,
        occurred_at    timestamptz NOT NULL,
        prev_hash      char(64)    NOT NULL,
        hash           char(64)    NOT NULL,
        CONSTRAINT custos_events_stream_version UNIQUE (stream_id, version)
      )`);
    await q.query(`
      CREATE TABLE custos_chain_head (
        id        smallint PRIMARY KEY CHECK (id = 1),
        last_seq  bigint   NOT NULL,
        last_hash char(64) NOT NULL
      )`);
    await q.query(`INSERT INTO custos_chain_head (id, last_seq, last_hash) VALUES (1, -1, repeat('0', 64))`);
    await q.query(`
      CREATE TABLE custos_outbox (
        global_seq bigint PRIMARY KEY
      )`);
    await q.query(`
      CREATE FUNCTION custos_refuse_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'custos_events is append-only: % refused', TG_OP USING ERRCODE = 'P0001';
      END $$`);
    await q.query(`
      CREATE TRIGGER custos_events_no_update_delete BEFORE UPDATE OR DELETE ON custos_events
      FOR EACH ROW EXECUTE FUNCTION custos_refuse_rewrite()`);
    await q.query(`
      CREATE TRIGGER custos_events_no_truncate BEFORE TRUNCATE ON custos_events
      FOR EACH STATEMENT EXECUTE FUNCTION custos_refuse_rewrite()`);
  }

  async down(): Promise<void> {
    throw new Error('the event store is never rolled back');
  }
}
