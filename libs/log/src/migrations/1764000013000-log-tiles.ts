import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * The tree moves from one row per node to tiles of 31 nodes (see LogTree): integration wrote
 * two rows per event and that, with reading the events back, kept it at a twentieth of raw
 * SHA-256. The tree is derived from the events, so it is dropped and rebuilt by the integrator
 * from global sequence 0 (deterministically: checkpoints already signed stay valid); proofs
 * beyond what is rebuilt answer "not integrated yet" until it catches up.
 */
export class LogTiles1764000013000 implements MigrationInterface {
  name = 'LogTiles1764000013000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE custos_log_tiles (
        tile_level smallint NOT NULL CHECK (tile_level >= 0),
        tile_index bigint   NOT NULL CHECK (tile_index >= 0),
        width      integer  NOT NULL CHECK (width >= 1),
        hashes     bytea    NOT NULL,
        PRIMARY KEY (tile_level, tile_index)
      )`);
    // Hashes do not compress: never try (a tile of 992 bytes stays in its row anyway).
    await q.query('ALTER TABLE custos_log_tiles ALTER COLUMN hashes SET STORAGE EXTERNAL');
    await q.query('DROP TABLE custos_log_nodes');
    await q.query('DELETE FROM custos_log_head');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('CREATE TABLE custos_log_nodes (level smallint NOT NULL, idx bigint NOT NULL, hash bytea NOT NULL, PRIMARY KEY (level, idx))');
    await q.query('DROP TABLE custos_log_tiles');
    await q.query('DELETE FROM custos_log_head');
  }
}
