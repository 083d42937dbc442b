import type { Sql, StoredEvent } from '@custos/event-store';
import type { Projection } from '@custos/projections';

const SEVERITY_RANK = "array_position(ARRAY['low','medium','high','critical'], $S)";

/**
 * One row per incident for listing and filtering: state, severity, subject, rules, patients.
 * An incident's events share a stream, hence a partition, so they arrive in order; the case
 * itself (notes, evidence, assessment) is read from its stream.
 */
export class IncidentsProjection implements Projection {
  readonly name = 'incidents';
  readonly tables = ['custos_rm_incidents'];

  async apply(sql: Sql, e: StoredEvent): Promise<void> {
    const d = e.data as Record<string, unknown>;
    const id = d.incidentId as string;
    switch (e.type) {
      case 'IncidentOpened': {
        const subject = d.subject as { kind: string; id: string };
        await sql.execute(
          `INSERT INTO custos_rm_incidents (incident_id, state, severity, subject_kind, subject_id, rules, patient_ids, detections, opened_at, discovered_at, updated_at, opened_seq)
           VALUES ($1, 'OPEN', $2, $3, $4, $5, $6, $7, $8, $9, $8, $10) ON CONFLICT (incident_id) DO NOTHING`,
          [id, d.severity, subject.kind, subject.id, d.rules, d.patientIds, (d.detectionIds as unknown[]).length, d.openedAt, d.discoveredAt, e.globalSeq],
        );
        return;
      }
      case 'DetectionLinked':
        await sql.execute(
          `UPDATE custos_rm_incidents SET
             rules = ARRAY(SELECT DISTINCT unnest(rules || ARRAY[$2::text]) ORDER BY 1),
             patient_ids = ARRAY(SELECT DISTINCT unnest(patient_ids || $3::text[]) ORDER BY 1),
             detections = detections + 1,
             severity = CASE WHEN ${SEVERITY_RANK.replace('$S', '$4::text')} > ${SEVERITY_RANK.replace('$S', 'severity')} THEN $4 ELSE severity END,
             updated_at = GREATEST(updated_at, $5)
           WHERE incident_id = $1`,
          [id, d.rule, d.patientIds, d.severity, d.at],
        );
        return;
      case 'IncidentTransitioned':
      case 'IncidentReopened':
      case 'BreachAssessed': {
        const state = e.type === 'IncidentTransitioned' ? (d.to as string) : e.type === 'IncidentReopened' ? 'INVESTIGATING' : 'BREACH_ASSESSED';
        await sql.execute('UPDATE custos_rm_incidents SET state = $2, updated_at = GREATEST(updated_at, $3) WHERE incident_id = $1', [id, state, e.occurredAt]);
        return;
      }
      case 'PatientsAdded':
        await sql.execute('UPDATE custos_rm_incidents SET patient_ids = ARRAY(SELECT DISTINCT unnest(patient_ids || $2::text[]) ORDER BY 1), updated_at = GREATEST(updated_at, $3) WHERE incident_id = $1', [id, d.patientIds, e.occurredAt]);
        return;
      case 'SeverityChanged':
        await sql.execute('UPDATE custos_rm_incidents SET severity = $2, updated_at = GREATEST(updated_at, $3) WHERE incident_id = $1', [id, d.to, e.occurredAt]);
        return;
      case 'DiscoveryDated':
        await sql.execute('UPDATE custos_rm_incidents SET discovered_at = $2, updated_at = GREATEST(updated_at, $3) WHERE incident_id = $1', [id, d.discoveredAt, e.occurredAt]);
        return;
      case 'EvidenceAttached':
      case 'IncidentAssigned':
      case 'NotificationRecorded':
      case 'LawEnforcementHold':
      case 'VerdictRecorded':
        await sql.execute('UPDATE custos_rm_incidents SET updated_at = GREATEST(updated_at, $2) WHERE incident_id = $1', [id, e.occurredAt]);
        return;
      default:
        return;
    }
  }
}

/** Patients' residence and flags (no name, no address), for affected-patient counts by region and EU residency. */
export class PatientProfilesProjection implements Projection {
  readonly name = 'patient-profiles';
  readonly tables = ['custos_rm_patient_profiles'];

  async apply(sql: Sql, e: StoredEvent): Promise<void> {
    if (e.type !== 'PatientProfileRecorded') return;
    const d = e.data as Record<string, unknown>;
    await sql.execute(
      `INSERT INTO custos_rm_patient_profiles (patient_id, region, country, eu_data_subject, vip, employee, last_seq) VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (patient_id) DO UPDATE SET region = EXCLUDED.region, country = EXCLUDED.country, eu_data_subject = EXCLUDED.eu_data_subject, vip = EXCLUDED.vip, employee = EXCLUDED.employee, last_seq = EXCLUDED.last_seq
       WHERE custos_rm_patient_profiles.last_seq < EXCLUDED.last_seq`,
      [d.patientId, d.region, d.country, d.euDataSubject === true, d.vip === true, d.employee === true, e.globalSeq],
    );
  }
}
