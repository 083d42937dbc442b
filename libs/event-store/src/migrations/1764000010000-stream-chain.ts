import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Stream chains: each event also records the hash of the previous event of its own stream
 * (GENESIS for a stream's first), covered by its hash, so one stream's events can be shown
 * whole and contiguous. Events from before this column have none (NULL) and hash as they did.
 */
export class StreamChain1764000010000 implements MigrationInterface {
  name = 'StreamChain1764000010000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE custos_events DISABLE TRIGGER USER');
    await q.query('ALTER TABLE custos_events ADD COLUMN stream_prev_hash text');
    await q.query('ALTER TABLE custos_events ENABLE TRIGGER USER');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE custos_events DROP COLUMN stream_prev_hash');
  }
}
