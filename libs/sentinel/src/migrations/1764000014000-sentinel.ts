import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * The sentinel's position in the log (its rules' state is rebuilt from the log up to it), and
 * the incidents read model behind `GET /v1/incidents` (filters and cursor paging; the case
 * itself is read from its stream).
 */
export class Sentinel1764000014000 implements MigrationInterface {
  name = 'Sentinel1764000014000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE custos_sentinel_position (
        name       text PRIMARY KEY,
        position   bigint NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE custos_rm_incidents (
        incident_id   text PRIMARY KEY,
        state         text NOT NULL,
        severity      text NOT NULL,
        subject_kind  text NOT NULL,
        subject_id    text NOT NULL,
        rules         text[] NOT NULL,
        patient_ids   text[] NOT NULL,
        detections    integer NOT NULL,
        opened_at     timestamptz NOT NULL,
        discovered_at timestamptz NOT NULL,
        updated_at    timestamptz NOT NULL,
        opened_seq    bigint NOT NULL
      )`);
    await q.query('CREATE INDEX custos_rm_incidents_opened ON custos_rm_incidents (opened_at DESC, incident_id DESC)');
    await q.query('CREATE INDEX custos_rm_incidents_subject ON custos_rm_incidents (subject_id)');
    await q.query('CREATE INDEX custos_rm_incidents_patients ON custos_rm_incidents USING gin (patient_ids)');
    // Where a patient lives and whether they are an EU data subject: the breach clocks count by it. No name, no address.
    await q.query(`
      CREATE TABLE custos_rm_patient_profiles (
        patient_id      text PRIMARY KEY,
        region          text NOT NULL,
        country         text NOT NULL,
        eu_data_subject boolean NOT NULL,
        vip             boolean NOT NULL,
        employee        boolean NOT NULL,
        last_seq        bigint NOT NULL
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE custos_rm_patient_profiles, custos_rm_incidents, custos_sentinel_position');
  }
}
