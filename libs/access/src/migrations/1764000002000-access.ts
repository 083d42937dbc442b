import { type MigrationInterface, type QueryRunner } from 'typeorm';

/** Read models of the access context, and an index for "what does the log hold about patient X". */
export class Access1764000002000 implements MigrationInterface {
  name = 'Access1764000002000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX custos_events_patient ON custos_events ((metadata->>'patientId'), type)`);
    await q.query(`
      CREATE TABLE custos_rm_access_trail (
        global_seq      bigint      PRIMARY KEY,
        event_id        uuid        NOT NULL,
        patient_id      text,
        occurred_at     timestamptz NOT NULL,
        actor_id        text        NOT NULL,
        actor_roles     jsonb       NOT NULL,
        resource_type   text        NOT NULL,
        resource_id     text        NOT NULL,
        action          text        NOT NULL,
        purpose         text,
        decision        text        NOT NULL,
        rule            text        NOT NULL,
        emergency       boolean     NOT NULL,
        consent_version integer
      )`);
    await q.query('CREATE INDEX custos_rm_access_trail_patient ON custos_rm_access_trail (patient_id, global_seq)');
    await q.query('CREATE INDEX custos_rm_access_trail_actor ON custos_rm_access_trail (actor_id, global_seq)');
    await q.query('CREATE INDEX custos_rm_access_trail_time ON custos_rm_access_trail (occurred_at)');
    await q.query(`
      CREATE TABLE custos_rm_emergency_reviews (
        access_event_id text        PRIMARY KEY,
        access_seq      bigint,
        patient_id      text        NOT NULL,
        actor_id        text,
        occurred_at     timestamptz,
        resource_type   text,
        resource_id     text,
        purpose         text,
        reason          text,
        verdict         text,
        note            text,
        reviewed_by     text,
        reviewed_at     timestamptz,
        review_seq      bigint
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE custos_rm_emergency_reviews, custos_rm_access_trail');
    await q.query('DROP INDEX custos_events_patient');
  }
}
