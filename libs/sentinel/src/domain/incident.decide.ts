import type { Decider } from '@custos/decider';
import { ConflictError, NotFoundError, ValidationError } from '@custos/errors';
import type {
  BreachAssessedData,
  EvidenceRef,
  IncidentEvent,
  IncidentOpenedData,
  IncidentState,
  LawEnforcementHoldData,
  NotificationRecordedData,
  RecipientClass,
  Severity,
} from './incident.events.js';

/** Which state may follow which by an ordinary transition (reopening is its own command). */
export const TRANSITIONS: Readonly<Record<IncidentState, readonly IncidentState[]>> = {
  OPEN: ['TRIAGED', 'DISMISSED', 'MERGED'],
  TRIAGED: ['INVESTIGATING', 'DISMISSED', 'MERGED'],
  INVESTIGATING: ['ON_HOLD', 'CONTAINED', 'DISMISSED', 'MERGED'],
  ON_HOLD: ['INVESTIGATING'],
  // BREACH_ASSESSED is reached by recording the assessment, not by a bare transition.
  CONTAINED: [],
  BREACH_ASSESSED: ['NOTIFYING', 'RESOLVED'],
  NOTIFYING: ['RESOLVED'],
  RESOLVED: ['CLOSED'],
  CLOSED: [],
  DISMISSED: [],
  MERGED: [],
};

const ENDED: readonly IncidentState[] = ['CLOSED', 'DISMISSED', 'MERGED'];
const ORAL_HOLD_DAYS = 30;
const DAY = 86_400_000;

export interface IncidentView {
  readonly incidentId: string;
  readonly state: IncidentState;
  readonly severity: Severity;
  readonly subject: IncidentOpenedData['subject'];
  readonly title: string;
  readonly source: IncidentOpenedData['source'];
  readonly detectionIds: readonly string[];
  readonly rules: readonly string[];
  readonly patientIds: readonly string[];
  readonly evidence: readonly EvidenceRef[];
  readonly discoveredAt: string;
  readonly awareAt: string;
  readonly openedAt: string;
  readonly assignee: string | null;
  readonly assessment: Omit<BreachAssessedData, 'incidentId' | 'factors' | 'rationale'> | null;
  readonly notifications: readonly Omit<NotificationRecordedData, 'incidentId'>[];
  readonly holds: readonly Omit<LawEnforcementHoldData, 'incidentId'>[];
  readonly verdict: 'true-positive' | 'false-positive' | 'duplicate' | null;
  readonly lastActivityAt: string;
}

export type IncidentDeciderState = IncidentView | null;

type By = { readonly by: string; readonly at: string };
export type OpenIncident = { readonly type: 'OpenIncident'; readonly opened: IncidentOpenedData };
export type TransitionIncident = { readonly type: 'TransitionIncident'; readonly to: IncidentState; readonly note: string } & By;
export type LinkDetection = { readonly type: 'LinkDetection'; readonly detectionId: string; readonly rule: string; readonly severity: Severity; readonly patientIds: readonly string[]; readonly evidence: readonly EvidenceRef[]; readonly at: string };
export type AttachEvidence = { readonly type: 'AttachEvidence'; readonly evidence: readonly EvidenceRef[]; readonly note: string } & By;
export type ChangeSeverity = { readonly type: 'ChangeSeverity'; readonly to: Severity; readonly reason: string } & By;
export type AssignIncident = { readonly type: 'AssignIncident'; readonly assignee: string } & By;
export type DateDiscovery = { readonly type: 'DateDiscovery'; readonly discoveredAt: string; readonly awareAt?: string; readonly note: string } & By;
export type AssessBreach = { readonly type: 'AssessBreach'; readonly assessment: Omit<BreachAssessedData, 'incidentId' | 'by' | 'at'> } & By;
export type RecordNotification = { readonly type: 'RecordNotification'; readonly recipientClass: RecipientClass; readonly channel: string; readonly date: string; readonly contentHash: string; readonly by: string };
export type PlaceHold = { readonly type: 'PlaceHold'; readonly kind: 'written' | 'oral'; readonly agency: string; readonly from: string; readonly until?: string; readonly by: string };
export type RecordVerdict = { readonly type: 'RecordVerdict'; readonly verdict: 'true-positive' | 'false-positive' | 'duplicate'; readonly note: string } & By;
export type ReopenIncident = { readonly type: 'ReopenIncident'; readonly note: string } & By;

export type IncidentCommand =
  | OpenIncident
  | TransitionIncident
  | LinkDetection
  | AttachEvidence
  | ChangeSeverity
  | AssignIncident
  | DateDiscovery
  | AssessBreach
  | RecordNotification
  | PlaceHold
  | RecordVerdict
  | ReopenIncident;

function requireNote(note: string, what = 'note'): void {
  if (typeof note !== 'string' || note.trim().length === 0) throw new ValidationError(`a ${what} is required`, undefined, 'note-required');
}

function mergeEvidence(a: readonly EvidenceRef[], b: readonly EvidenceRef[]): EvidenceRef[] {
  const seen = new Set(a.map((e) => e.eventId));
  return [...a, ...b.filter((e) => !seen.has(e.eventId) && (seen.add(e.eventId), true))];
}

const union = (a: readonly string[], b: readonly string[]) => [...new Set([...a, ...b])];

export const incidentDecider: Decider<IncidentDeciderState, IncidentCommand, IncidentEvent> = {
  initialState: null,
  evolve(state, event) {
    if (event.type === 'IncidentOpened') {
      const d = event.data;
      return {
        incidentId: d.incidentId,
        state: 'OPEN',
        severity: d.severity,
        subject: d.subject,
        title: d.title,
        source: d.source,
        detectionIds: d.detectionIds,
        rules: d.rules,
        patientIds: d.patientIds,
        evidence: d.evidence,
        discoveredAt: d.discoveredAt,
        awareAt: d.discoveredAt,
        openedAt: d.openedAt,
        assignee: null,
        assessment: null,
        notifications: [],
        holds: [],
        verdict: null,
        lastActivityAt: d.openedAt,
      };
    }
    if (!state) return state;
    switch (event.type) {
      case 'IncidentTransitioned':
        return { ...state, state: event.data.to, lastActivityAt: event.data.at };
      case 'IncidentReopened':
        return { ...state, state: 'INVESTIGATING', lastActivityAt: event.data.at };
      case 'DetectionLinked': {
        const d = event.data;
        return {
          ...state,
          detectionIds: union(state.detectionIds, [d.detectionId]),
          rules: union(state.rules, [d.rule]),
          patientIds: union(state.patientIds, d.patientIds),
          evidence: mergeEvidence(state.evidence, d.evidence),
          severity: rank(d.severity) > rank(state.severity) ? d.severity : state.severity,
          lastActivityAt: d.at,
        };
      }
      case 'EvidenceAttached':
        return { ...state, evidence: mergeEvidence(state.evidence, event.data.evidence), lastActivityAt: event.data.at };
      case 'SeverityChanged':
        return { ...state, severity: event.data.to, lastActivityAt: event.data.at };
      case 'IncidentAssigned':
        return { ...state, assignee: event.data.assignee, lastActivityAt: event.data.at };
      case 'DiscoveryDated':
        return { ...state, discoveredAt: event.data.discoveredAt, awareAt: event.data.awareAt, lastActivityAt: event.data.at };
      case 'BreachAssessed': {
        const { incidentId: _i, factors: _f, rationale: _r, ...assessment } = event.data;
        return { ...state, state: 'BREACH_ASSESSED', assessment, lastActivityAt: event.data.at };
      }
      case 'NotificationRecorded': {
        const { incidentId: _i, ...n } = event.data;
        return { ...state, notifications: [...state.notifications, n] };
      }
      case 'LawEnforcementHold': {
        const { incidentId: _i, ...h } = event.data;
        return { ...state, holds: [...state.holds, h] };
      }
      case 'VerdictRecorded':
        return { ...state, verdict: event.data.verdict, lastActivityAt: event.data.at };
      default:
        return state;
    }
  },
  decide(command, state) {
    if (command.type === 'OpenIncident') {
      // Opening twice (a replayed detection) records nothing.
      if (state) return [];
      return [{ type: 'IncidentOpened', data: command.opened }];
    }
    if (!state) throw new NotFoundError('no such incident', undefined, 'incident-not-found');
    const id = state.incidentId;
    switch (command.type) {
      case 'TransitionIncident': {
        requireNote(command.note);
        if (!(TRANSITIONS[state.state] ?? []).includes(command.to)) {
          throw new ConflictError(`an incident ${state.state} cannot become ${command.to}`, { from: state.state, to: command.to, allowed: TRANSITIONS[state.state] }, 'illegal-transition');
        }
        if (command.to === 'CLOSED' && state.verdict === null) throw new ConflictError('a verdict is recorded before an incident is closed', undefined, 'verdict-required');
        return [{ type: 'IncidentTransitioned', data: { incidentId: id, from: state.state, to: command.to, officer: command.by, at: command.at, note: command.note } }];
      }
      case 'ReopenIncident':
        requireNote(command.note);
        if (!['CLOSED', 'DISMISSED', 'RESOLVED'].includes(state.state)) throw new ConflictError(`an incident ${state.state} is not ended: nothing to reopen`, { state: state.state }, 'illegal-transition');
        return [{ type: 'IncidentReopened', data: { incidentId: id, from: state.state, officer: command.by, at: command.at, note: command.note } }];
      case 'LinkDetection':
        if (state.detectionIds.includes(command.detectionId)) return [];
        if (ENDED.includes(state.state)) throw new ConflictError('the incident has ended', { state: state.state }, 'incident-ended');
        return [{ type: 'DetectionLinked', data: { incidentId: id, detectionId: command.detectionId, rule: command.rule, severity: command.severity, patientIds: command.patientIds, evidence: command.evidence, at: command.at } }];
      case 'AttachEvidence':
        requireNote(command.note);
        if (command.evidence.length === 0) throw new ValidationError('evidence names at least one event', undefined, 'no-evidence');
        return [{ type: 'EvidenceAttached', data: { incidentId: id, evidence: command.evidence, officer: command.by, at: command.at, note: command.note } }];
      case 'ChangeSeverity':
        requireNote(command.reason, 'reason');
        if (command.to === state.severity) return [];
        return [{ type: 'SeverityChanged', data: { incidentId: id, from: state.severity, to: command.to, by: command.by, at: command.at, reason: command.reason } }];
      case 'AssignIncident':
        if (command.assignee === state.assignee) return [];
        return [{ type: 'IncidentAssigned', data: { incidentId: id, assignee: command.assignee, by: command.by, at: command.at } }];
      case 'DateDiscovery': {
        requireNote(command.note);
        const awareAt = command.awareAt ?? state.awareAt;
        if (Date.parse(command.discoveredAt) > Date.parse(command.at) || Date.parse(awareAt) > Date.parse(command.at)) throw new ValidationError('discovery cannot lie in the future', undefined, 'bad-date');
        return [{ type: 'DiscoveryDated', data: { incidentId: id, discoveredAt: command.discoveredAt, awareAt, by: command.by, at: command.at, note: command.note } }];
      }
      case 'AssessBreach': {
        if (state.state !== 'CONTAINED') throw new ConflictError(`a breach is assessed once the incident is CONTAINED (it is ${state.state})`, { state: state.state }, 'illegal-transition');
        const a = command.assessment;
        requireNote(a.rationale, 'rationale');
        for (const [k, v] of Object.entries(a.factors)) requireNote(v, `factor ${k}`);
        const byRegion = Object.values(a.affected.byRegion).reduce((n, v) => n + v, 0);
        if (byRegion > a.affected.total || a.affected.euResidents > a.affected.total) throw new ValidationError('affected counts by region or EU residency exceed the total', undefined, 'bad-counts');
        return [{ type: 'BreachAssessed', data: { incidentId: id, ...a, by: command.by, at: command.at } }];
      }
      case 'RecordNotification':
        if (!['BREACH_ASSESSED', 'NOTIFYING', 'RESOLVED'].includes(state.state) || state.assessment?.decision !== 'breach') {
          throw new ConflictError('notifications are recorded for an assessed breach', { state: state.state }, 'not-a-breach');
        }
        return [{ type: 'NotificationRecorded', data: { incidentId: id, recipientClass: command.recipientClass, channel: command.channel, date: command.date, contentHash: command.contentHash, by: command.by } }];
      case 'PlaceHold': {
        const from = Date.parse(command.from);
        let until: number;
        if (command.kind === 'oral') {
          // 164.412(b): an oral statement delays for no longer than 30 days unless confirmed in writing.
          const stated = command.until ? Date.parse(command.until) : Number.POSITIVE_INFINITY;
          until = Math.min(stated, from + ORAL_HOLD_DAYS * DAY);
        } else {
          if (!command.until) throw new ValidationError('a written hold states its end date', undefined, 'hold-needs-end');
          until = Date.parse(command.until);
        }
        if (!(until > from)) throw new ValidationError('a hold ends after it starts', undefined, 'bad-date');
        return [{ type: 'LawEnforcementHold', data: { incidentId: id, kind: command.kind, agency: command.agency, from: new Date(from).toISOString(), until: new Date(until).toISOString(), by: command.by } }];
      }
      case 'RecordVerdict':
        requireNote(command.note);
        return [{ type: 'VerdictRecorded', data: { incidentId: id, verdict: command.verdict, by: command.by, at: command.at, note: command.note } }];
    }
  },
};

export function rank(s: Severity): number {
  return ['low', 'medium', 'high', 'critical'].indexOf(s);
}
