import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * How far each archive's changes feed has been read (Orthanc's change sequence): instances that
 * reach the archive another way than through Custos are registered from it, once, across restarts.
 */
export class DicomwebFeed1764000019400 implements MigrationInterface {
  name = 'DicomwebFeed1764000019400';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE custos_dicomweb_feed (
        archive    text PRIMARY KEY,
        position   bigint NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE custos_dicomweb_feed');
  }
}
