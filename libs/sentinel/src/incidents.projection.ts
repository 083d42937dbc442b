import type { Sql } from '@custos/event-store';
import { DecodedProjection, type ProjectedEvent } from '@custos/projections';
import type { IncidentEvent } from './domain/incident.events.js';
import type { ReferenceEvent } from './domain/reference.events.js';
import { referenceCodec } from './reference.handlers.js';
import { incidentCodec } from './sentinel-runner.js';

const SEVERITY_RANK = "array_position(ARRAY['low','medium','high','critical'], $S)";

/**
 * One row per incident for listing and filtering: state, severity, subject, rules, patients.
 * An incident's events share a stream, hence a partition, so they arrive in order; the case
 * itself (notes, evidence, assessment) is read from its stream.
 */
export class IncidentsProjection extends DecodedProjection<IncidentEvent> {
  readonly name = 'incidents';
  readonly tables = ['custos_rm_incidents'];

  constructor() {
    super(incidentCodec);
  }

  protected async project(sql: Sql, e: ProjectedEvent<IncidentEvent>): Promise<void> {
    const id = e.data.incidentId;
    switch (e.type) {
      case 'IncidentOpened': {
        const d = e.data;
        await sql.execute(
          `INSERT INTO custos_rm_incidents (incident_id, state, severity, subject_kind, subject_id, rules, patient_ids, detections, opened_at, discovered_at, updated_at, opened_seq)
           VALUES ($1, 'OPEN', $2, $3, $4, $5, $6, $7, $8, $9, $8, $10) ON CONFLICT (incident_id) DO NOTHING`,
          [id, d.severity, d.subject.kind, d.subject.id, d.rules, d.patientIds, d.detectionIds.length, d.openedAt, d.discoveredAt, e.globalSeq],
        );
        return;
      }
      case 'DetectionLinked': {
        const d = e.data;
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
      }
      case 'IncidentTransitioned':
      case 'IncidentReopened':
      case 'BreachAssessed': {
        const state = e.type === 'IncidentTransitioned' ? e.data.to : e.type === 'IncidentReopened' ? 'INVESTIGATING' : 'BREACH_ASSESSED';
        await sql.execute('UPDATE custos_rm_incidents SET state = $2, updated_at = GREATEST(updated_at, $3) WHERE incident_id = $1', [id, state, e.occurredAt]);
        return;
      }
      case 'PatientsAdded':
        await sql.execute('UPDATE custos_rm_incidents SET patient_ids = ARRAY(SELECT DISTINCT unnest(patient_ids || $2::text[]) ORDER BY 1), updated_at = GREATEST(updated_at, $3) WHERE incident_id = $1', [id, e.data.patientIds, e.occurredAt]);
        return;
      case 'SeverityChanged':
        await sql.execute('UPDATE custos_rm_incidents SET severity = $2, updated_at = GREATEST(updated_at, $3) WHERE incident_id = $1', [id, e.data.to, e.occurredAt]);
        return;
      case 'DiscoveryDated':
        await sql.execute('UPDATE custos_rm_incidents SET discovered_at = $2, updated_at = GREATEST(updated_at, $3) WHERE incident_id = $1', [id, e.data.discoveredAt, e.occurredAt]);
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
export class PatientProfilesProjection extends DecodedProjection<ReferenceEvent> {
  readonly name = 'patient-profiles';
  readonly tables = ['custos_rm_patient_profiles'];

  constructor() {
    super(referenceCodec);
  }

  protected async project(sql: Sql, e: ProjectedEvent<ReferenceEvent>): Promise<void> {
    if (e.type !== 'PatientProfileRecorded') return; // workforce records make no row here
    const d = e.data;
    await sql.execute(
      `INSERT INTO custos_rm_patient_profiles (patient_id, region, country, eu_data_subject, vip, employee, last_seq) VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (patient_id) DO UPDATE SET region = EXCLUDED.region, country = EXCLUDED.country, eu_data_subject = EXCLUDED.eu_data_subject, vip = EXCLUDED.vip, employee = EXCLUDED.employee, last_seq = EXCLUDED.last_seq
       WHERE custos_rm_patient_profiles.last_seq < EXCLUDED.last_seq`,
      [d.patientId, d.region, d.country, d.euDataSubject === true, d.vip === true, d.employee === true, e.globalSeq],
    );
  }
}
