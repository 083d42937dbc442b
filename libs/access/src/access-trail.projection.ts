import type { Sql, StoredEvent } from '@custos/event-store';
import type { Projection } from '@custos/projections';
import type { AccessDecidedData, EmergencyAccessReviewedData, RouteAccessDeniedData } from './access.events.js';

/**
 * The access trail (every decision about a patient's data, and every refused read of it) and
 * the emergency-access review queue. Rows are keyed by global sequence or event id and
 * upserted field-wise, so arrival order does not change the result.
 */
export class AccessTrailProjection implements Projection {
  readonly name = 'access-trail';
  readonly tables = ['custos_rm_access_trail', 'custos_rm_emergency_reviews'];

  async apply(sql: Sql, e: StoredEvent): Promise<void> {
    if (e.type === 'AccessDecided') {
      const d = e.data as AccessDecidedData;
      await this.trail(sql, e, { patientId: d.patientId, resourceType: d.resourceType, resourceId: d.resourceId, action: d.action, purpose: d.purpose, decision: d.decision, rule: d.rule, emergency: d.emergency, consentVersion: d.consentVersion });
      if (d.emergency && d.patientId) {
        await sql.execute(
          `INSERT INTO custos_rm_emergency_reviews (access_event_id, access_seq, patient_id, actor_id, occurred_at, resource_type, resource_id, purpose, reason)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           ON CONFLICT (access_event_id) DO UPDATE SET access_seq = EXCLUDED.access_seq, actor_id = EXCLUDED.actor_id, occurred_at = EXCLUDED.occurred_at,
             resource_type = EXCLUDED.resource_type, resource_id = EXCLUDED.resource_id, purpose = EXCLUDED.purpose, reason = EXCLUDED.reason`,
          [e.eventId, e.globalSeq, d.patientId, e.metadata.actor.id, e.occurredAt, d.resourceType, d.resourceId, d.purpose, d.emergencyReason ?? null],
        );
      }
    } else if (e.type === 'RouteAccessDenied') {
      const d = e.data as RouteAccessDeniedData;
      await this.trail(sql, e, { patientId: d.patientId, resourceType: d.subject, resourceId: d.route, action: d.action, purpose: null, decision: 'DENY', rule: d.rule, emergency: false, consentVersion: null });
    } else if (e.type === 'EmergencyAccessReviewed') {
      const d = e.data as EmergencyAccessReviewedData;
      await sql.execute(
        `INSERT INTO custos_rm_emergency_reviews (access_event_id, patient_id, verdict, note, reviewed_by, reviewed_at, review_seq)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (access_event_id) DO UPDATE SET verdict = EXCLUDED.verdict, note = EXCLUDED.note, reviewed_by = EXCLUDED.reviewed_by,
           reviewed_at = EXCLUDED.reviewed_at, review_seq = EXCLUDED.review_seq`,
        [d.accessEventId, d.patientId, d.verdict, d.note, e.metadata.actor.id, e.occurredAt, e.globalSeq],
      );
    }
  }

  private async trail(
    sql: Sql,
    e: StoredEvent,
    r: { patientId: string | null; resourceType: string; resourceId: string; action: string; purpose: string | null; decision: string; rule: string; emergency: boolean; consentVersion: number | null },
  ): Promise<void> {
    await sql.execute(
      `INSERT INTO custos_rm_access_trail (global_seq, event_id, patient_id, occurred_at, actor_id, actor_roles, resource_type, resource_id, action, purpose, decision, rule, emergency, consent_version)
       VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT (global_seq) DO NOTHING`,
      [e.globalSeq, e.eventId, r.patientId, e.occurredAt, e.metadata.actor.id, JSON.stringify(e.metadata.actor.roles), r.resourceType, r.resourceId, r.action, r.purpose, r.decision, r.rule, r.emergency, r.consentVersion],
    );
  }
}
