import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * The key service's tables, outside the append-only log: data keys wrapped by the KEK (a
 * destroyed key keeps its row, wrapped NULL, as the record that it existed) and signing keys
 * (private halves wrapped, public halves served in the JWKS for as long as the row exists).
 */
export class Keys1764000005000 implements MigrationInterface {
  name = 'Keys1764000005000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE custos_data_keys (
        kid          text        PRIMARY KEY,
        owner        text        NOT NULL,
        wrapped      text,
        kek_kid      text,
        created_at   timestamptz NOT NULL DEFAULT now(),
        destroyed_at timestamptz,
        CHECK ((wrapped IS NULL) = (destroyed_at IS NOT NULL))
      )`);
    await q.query('CREATE UNIQUE INDEX custos_data_keys_active_owner ON custos_data_keys (owner) WHERE destroyed_at IS NULL');
    await q.query('CREATE INDEX custos_data_keys_owner ON custos_data_keys (owner)');
    await q.query(`
      CREATE TABLE custos_signing_keys (
        kid        text        PRIMARY KEY,
        purpose    text        NOT NULL,
        public_jwk jsonb       NOT NULL,
        wrapped    text        NOT NULL,
        kek_kid    text        NOT NULL,
        created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        retired_at timestamptz
      )`);
    await q.query('CREATE UNIQUE INDEX custos_signing_keys_active ON custos_signing_keys (purpose) WHERE retired_at IS NULL');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE custos_signing_keys, custos_data_keys');
  }
}
