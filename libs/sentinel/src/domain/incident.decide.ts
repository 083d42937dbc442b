import type { Decider } from '@custos/decider';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '@custos/errors';
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
import { SEVERITIES } from './incident.events.js';
import { visibleLength } from '@custos/vocabulary';
import { sameActor } from './reference.events.js';

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
/** 164.412(b): oral statements delay notice by at most 30 days in all, per incident. */
export const ORAL_HOLD_DAYS = 30;
/**
 * A written statement (164.412(a)) states its own period; Custos accepts at most a year per
 * statement. A longer delay is a new written statement (a new hold), each recorded.
 */
export const WRITTEN_HOLD_MAX_DAYS = 365;
const DAY = 86_400_000;

/** One change to what the legal clocks run from: a re-dated discovery or awareness, or a hold. */
export type ClockChange =
  | { readonly change: 'discovery'; readonly at: string; readonly by: string; readonly discoveredAt: { readonly from: string; readonly to: string }; readonly awareAt: { readonly from: string; readonly to: string } }
  | { readonly change: 'hold'; readonly at: string | null; readonly by: string; readonly kind: 'written' | 'oral'; readonly from: string; readonly until: string };

export interface IncidentView {
  readonly incidentId: string;
  readonly state: IncidentState;
  readonly severity: Severity;
  readonly subject: IncidentOpenedData['subject'];
  readonly source: IncidentOpenedData['source'];
  readonly detectionIds: readonly string[];
  readonly rules: readonly string[];
  readonly patientIds: readonly string[];
  readonly evidence: readonly EvidenceRef[];
  readonly discoveredAt: string;
  readonly awareAt: string;
  /**
   * The latest discovery or awareness may be dated: the discovery recorded at opening (for the
   * sentinel, its first detection's time), or an earlier linked detection's.
   */
  readonly latestDiscovery: string;
  /** Every change to discovery, awareness and holds, in order: what the clocks show as their history. */
  readonly clockHistory: readonly ClockChange[];
  readonly openedAt: string;
  readonly assignee: string | null;
  readonly assessment: Omit<BreachAssessedData, 'incidentId' | 'factors' | 'rationale'> | null;
  /** Without their sealed parts (channel; agency and reference): the timeline opens those for officers. */
  readonly notifications: readonly Omit<NotificationRecordedData, 'incidentId' | 'channel'>[];
  readonly holds: readonly Omit<LawEnforcementHoldData, 'incidentId' | 'agency' | 'reference'>[];
  readonly verdict: 'true-positive' | 'false-positive' | 'duplicate' | null;
  readonly lastActivityAt: string;
}

export type IncidentDeciderState = IncidentView | null;

/**
 * Who acts, when. `involved`: the caller appears in the case beyond its subject (for a patient's
 * case, they accessed that patient in its window, as the log shows); the handler establishes
 * it, the decider refuses them.
 */
type Who = { readonly by: string; readonly involved?: boolean };
type By = Who & { readonly at: string };
export type OpenIncident = { readonly type: 'OpenIncident'; readonly opened: IncidentOpenedData };
export type TransitionIncident = { readonly type: 'TransitionIncident'; readonly to: IncidentState; readonly note: string } & By;
export type LinkDetection = { readonly type: 'LinkDetection'; readonly detectionId: string; readonly rule: string; readonly severity: Severity; readonly patientIds: readonly string[]; readonly evidence: readonly EvidenceRef[]; readonly at: string };
export type AttachEvidence = { readonly type: 'AttachEvidence'; readonly evidence: readonly EvidenceRef[]; readonly note: string } & By;
export type ChangeSeverity = { readonly type: 'ChangeSeverity'; readonly to: Severity; readonly reason: string } & By;
export type AssignIncident = { readonly type: 'AssignIncident'; readonly assignee: string } & By;
export type DateDiscovery = { readonly type: 'DateDiscovery'; readonly discoveredAt: string; readonly awareAt?: string; readonly note: string } & By;
export type AssessBreach = { readonly type: 'AssessBreach'; readonly assessment: Omit<BreachAssessedData, 'incidentId' | 'by' | 'at'> } & By;
/** `date`: when the notice was sent (what the clocks count); `at`: now, when it is recorded. */
export type RecordNotification = { readonly type: 'RecordNotification'; readonly recipientClass: RecipientClass; readonly channel: string; readonly date: string; readonly contentHash: string } & By;
export type PlaceHold = { readonly type: 'PlaceHold'; readonly kind: 'written' | 'oral'; readonly agency: string; readonly reference?: string; readonly from: string; readonly until?: string } & By;
export type AddPatients = { readonly type: 'AddPatients'; readonly patientIds: readonly string[]; readonly note: string } & By;
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
  | ReopenIncident
  | AddPatients;

const PATIENT_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const isText = (v: unknown, max: number): v is string => typeof v === 'string' && v.trim().length > 0 && v.length <= max;
const isInstant = (v: unknown): v is string => typeof v === 'string' && !Number.isNaN(Date.parse(v));
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 1_000_000_000;
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** What every incident has, whoever opens it (a transport that lets a malformed case through is still refused here). */
function checkOpened(o: IncidentOpenedData): void {
  const bad = (what: string, code: string) => {
    throw new ValidationError(`an incident needs ${what}`, undefined, code);
  };
  if (!isRecord(o)) bad('its facts', 'bad-incident');
  if (!isText(o.incidentId, 200)) bad('an id', 'bad-incident');
  if (!isText(o.title, 200)) bad('a title', 'bad-incident');
  if (!(SEVERITIES as readonly unknown[]).includes(o.severity)) bad('a severity', 'bad-incident');
  if (!isRecord(o.subject) || (o.subject.kind !== 'actor' && o.subject.kind !== 'patient') || !isText(o.subject.id, 200)) bad('a subject: an actor or a patient, by id', 'bad-subject');
  for (const list of [o.patientIds, o.detectionIds, o.rules]) if (!Array.isArray(list) || !list.every((x) => isText(x, 200))) bad('lists of ids', 'bad-incident');
  if (!Array.isArray(o.evidence) || !o.evidence.every((e) => isRecord(e) && isText(e.eventId, 200) && Number.isInteger(e.sequence) && typeof e.hash === 'string')) bad('evidence as events of the log', 'bad-incident');
  if (!isInstant(o.discoveredAt) || !isInstant(o.openedAt)) bad('its discovery and opening times', 'bad-date');
  if (Date.parse(o.discoveredAt) > Date.parse(o.openedAt)) bad('a discovery no later than its opening', 'bad-date');
}

/** The four factors of 164.402(2), each written, and counts that are counts and add up. */
function checkAssessment(a: AssessBreach['assessment']): void {
  if (!isRecord(a) || !isRecord(a.factors)) throw new ValidationError('an assessment states the four factors of 45 CFR 164.402(2)', undefined, 'bad-assessment');
  for (const k of ['natureAndExtent', 'unauthorizedPerson', 'acquiredOrViewed', 'mitigation'] as const) requireNote(a.factors[k], `factor ${k}`);
  if (a.decision !== 'breach' && a.decision !== 'low-probability-of-compromise') throw new ValidationError('an assessment decides: breach or low-probability-of-compromise', undefined, 'bad-assessment');
  requireNote(a.rationale, 'rationale');
  const c = a.affected;
  if (!isRecord(c) || !isCount(c.total) || !isCount(c.euResidents) || !isRecord(c.byRegion) || !Object.values(c.byRegion).every(isCount)) {
    throw new ValidationError('an assessment counts the affected: total, by region, EU residents', undefined, 'bad-counts');
  }
  const byRegion = Object.values(c.byRegion).reduce((n, v) => n + v, 0);
  if (byRegion > c.total || c.euResidents > c.total) throw new ValidationError('affected counts by region or EU residency exceed the total', undefined, 'bad-counts');
}

/**
 * Separation of duties: nobody works a case about themselves. The subject of an actor's case,
 * and anyone the handler found involved (for a patient's case, whoever accessed that patient in
 * its window), is refused; so is assigning the case to its subject.
 */
function checkNotInvolved(state: IncidentView, command: Exclude<IncidentCommand, OpenIncident | LinkDetection>): void {
  const self = sameActor(state.subject.id, command.by) || (state.subject.kind === 'patient' && command.involved === true);
  if (self || (state.subject.kind === 'actor' && command.involved === true)) {
    throw new ForbiddenError('you are part of what this incident is about: another officer works it', { incidentId: state.incidentId }, 'separation-of-duties');
  }
  if (command.type === 'AssignIncident' && state.subject.kind === 'actor' && sameActor(command.assignee, state.subject.id)) {
    throw new ForbiddenError('an incident cannot be assigned to the officer it is about', { incidentId: state.incidentId }, 'separation-of-duties');
  }
}

/** A note says something: at least one letter or digit a reader can see (not blanks, fillers or zero-width characters). */
function requireNote(note: string, what = 'note'): void {
  if (typeof note !== 'string' || visibleLength(note) === 0) throw new ValidationError(`a ${what} is required`, undefined, 'note-required');
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
        source: d.source,
        detectionIds: d.detectionIds,
        rules: d.rules,
        patientIds: d.patientIds,
        evidence: d.evidence,
        discoveredAt: d.discoveredAt,
        awareAt: d.discoveredAt,
        latestDiscovery: d.discoveredAt,
        clockHistory: [],
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
          latestDiscovery: Date.parse(d.at) < Date.parse(state.latestDiscovery) ? d.at : state.latestDiscovery,
          lastActivityAt: d.at,
        };
      }
      case 'EvidenceAttached':
        return { ...state, evidence: mergeEvidence(state.evidence, event.data.evidence), lastActivityAt: event.data.at };
      case 'SeverityChanged':
        return { ...state, severity: event.data.to, lastActivityAt: event.data.at };
      case 'IncidentAssigned':
        return { ...state, assignee: event.data.assignee, lastActivityAt: event.data.at };
      case 'DiscoveryDated': {
        const d = event.data;
        const change: ClockChange = { change: 'discovery', at: d.at, by: d.by, discoveredAt: { from: state.discoveredAt, to: d.discoveredAt }, awareAt: { from: state.awareAt, to: d.awareAt } };
        return { ...state, discoveredAt: d.discoveredAt, awareAt: d.awareAt, clockHistory: [...state.clockHistory, change], lastActivityAt: d.at };
      }
      case 'PatientsAdded':
        return { ...state, patientIds: union(state.patientIds, event.data.patientIds), lastActivityAt: event.data.at };
      case 'BreachAssessed': {
        const { incidentId: _i, factors: _f, rationale: _r, ...assessment } = event.data;
        return { ...state, state: 'BREACH_ASSESSED', assessment, lastActivityAt: event.data.at };
      }
      case 'NotificationRecorded': {
        const { recipientClass, date, contentHash, by } = event.data;
        return { ...state, notifications: [...state.notifications, { recipientClass, date, contentHash, by }] };
      }
      case 'LawEnforcementHold': {
        const { kind, from, until, by, at } = event.data;
        const h = { kind, from, until, by, ...(at ? { at } : {}) };
        const change: ClockChange = { change: 'hold', at: h.at ?? null, by: h.by, kind: h.kind, from: h.from, until: h.until };
        return { ...state, holds: [...state.holds, h], clockHistory: [...state.clockHistory, change] };
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
      checkOpened(command.opened);
      return [{ type: 'IncidentOpened', data: command.opened }];
    }
    if (!state) throw new NotFoundError('no such incident', undefined, 'incident-not-found');
    const id = state.incidentId;
    if (command.type !== 'LinkDetection') {
      checkNotInvolved(state, command);
      // An ended case is a record: it changes only by being reopened (a MERGED one not at all).
      if (ENDED.includes(state.state) && command.type !== 'ReopenIncident') {
        const allowed = state.state === 'MERGED' ? [] : ['reopen'];
        throw new ConflictError(`the incident is ${state.state}: ${allowed.length ? 'reopen it first (POST …/reopen, with a note)' : 'it cannot change'}`, { state: state.state, allowed }, 'incident-ended');
      }
    }
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
        if (!isInstant(command.discoveredAt) || !isInstant(awareAt)) throw new ValidationError('discoveredAt and awareAt are instants', undefined, 'bad-date');
        if (Date.parse(command.discoveredAt) > Date.parse(command.at) || Date.parse(awareAt) > Date.parse(command.at)) throw new ValidationError('discovery cannot lie in the future', undefined, 'bad-date');
        // Moving either later would restart the clocks: both may only be dated at or before the first detection.
        const latest = Date.parse(state.latestDiscovery);
        if (Date.parse(command.discoveredAt) > latest || Date.parse(awareAt) > latest) {
          throw new ValidationError(`discovery and awareness may be dated earlier, never after ${state.latestDiscovery} (the first detection, or the discovery recorded at opening)`, { latest: state.latestDiscovery }, 'discovery-too-late');
        }
        if (command.discoveredAt === state.discoveredAt && awareAt === state.awareAt) return [];
        return [{ type: 'DiscoveryDated', data: { incidentId: id, discoveredAt: command.discoveredAt, awareAt, by: command.by, at: command.at, note: command.note } }];
      }
      case 'AddPatients': {
        requireNote(command.note);
        if (!Array.isArray(command.patientIds) || command.patientIds.length === 0 || !command.patientIds.every((p) => typeof p === 'string' && PATIENT_ID.test(p))) {
          throw new ValidationError('name at least one patient by id', undefined, 'bad-patients');
        }
        const added = [...new Set(command.patientIds)].filter((p) => !state.patientIds.includes(p));
        if (added.length === 0) return [];
        return [{ type: 'PatientsAdded', data: { incidentId: id, patientIds: added, by: command.by, at: command.at, note: command.note } }];
      }
      case 'AssessBreach': {
        if (state.state !== 'CONTAINED') throw new ConflictError(`a breach is assessed once the incident is CONTAINED (it is ${state.state})`, { state: state.state }, 'illegal-transition');
        const a = command.assessment;
        checkAssessment(a);
        return [{ type: 'BreachAssessed', data: { incidentId: id, ...a, by: command.by, at: command.at } }];
      }
      case 'RecordNotification':
        if (!['BREACH_ASSESSED', 'NOTIFYING', 'RESOLVED'].includes(state.state) || state.assessment?.decision !== 'breach') {
          throw new ConflictError('notifications are recorded for an assessed breach', { state: state.state }, 'not-a-breach');
        }
        // The date stops the clocks: a notice not yet sent, or sent before the breach was discovered, would mark them met.
        if (!isInstant(command.date)) throw new ValidationError('the notification date is an instant', undefined, 'bad-date');
        if (Date.parse(command.date) > Date.parse(command.at)) throw new ValidationError('a notification is dated when it was sent: not in the future', undefined, 'bad-date');
        if (Date.parse(command.date) < Date.parse(state.discoveredAt)) {
          throw new ValidationError(`a notification cannot precede the discovery of the breach (${state.discoveredAt})`, { discoveredAt: state.discoveredAt }, 'bad-date');
        }
        return [{ type: 'NotificationRecorded', data: { incidentId: id, recipientClass: command.recipientClass, channel: command.channel, date: command.date, contentHash: command.contentHash, by: command.by } }];
      case 'PlaceHold': {
        requireNote(command.agency, 'agency');
        const from = Date.parse(command.from);
        if (!isInstant(command.from) || (command.until !== undefined && !isInstant(command.until))) throw new ValidationError('from and until are instants', undefined, 'bad-date');
        // A hold answers a statement already made: it does not start in the future.
        if (from > Date.parse(command.at)) throw new ValidationError('a hold starts no later than it is recorded', undefined, 'bad-date');
        let until: number;
        if (command.kind === 'oral') {
          // 164.412(b): oral statements delay for no longer than 30 days in all, unless confirmed in writing (a written hold).
          const used = state.holds.filter((h) => h.kind === 'oral').reduce((n, h) => n + (Date.parse(h.until) - Date.parse(h.from)), 0);
          const left = ORAL_HOLD_DAYS * DAY - used;
          if (left <= 0) throw new ConflictError(`oral holds on this incident already total ${ORAL_HOLD_DAYS} days (164.412(b)): a longer delay needs a written statement`, { usedDays: used / DAY }, 'oral-hold-exhausted');
          const stated = command.until ? Date.parse(command.until) : Number.POSITIVE_INFINITY;
          until = Math.min(stated, from + left);
        } else {
          if (!command.until) throw new ValidationError('a written hold states its end date', undefined, 'hold-needs-end');
          if (command.reference === undefined || !isText(command.reference, 200) || visibleLength(command.reference) === 0) throw new ValidationError("a written hold names the statement's reference", undefined, 'hold-needs-reference');
          until = Date.parse(command.until);
          if (until - from > WRITTEN_HOLD_MAX_DAYS * DAY) {
            throw new ValidationError(`a written hold lasts at most ${WRITTEN_HOLD_MAX_DAYS} days; a longer delay is a new written statement`, { maxDays: WRITTEN_HOLD_MAX_DAYS }, 'hold-too-long');
          }
        }
        if (!(until > from)) throw new ValidationError('a hold ends after it starts', undefined, 'bad-date');
        return [
          {
            type: 'LawEnforcementHold',
            data: { incidentId: id, kind: command.kind, agency: command.agency, ...(command.kind === 'written' ? { reference: command.reference } : {}), from: new Date(from).toISOString(), until: new Date(until).toISOString(), by: command.by, at: command.at },
          },
        ];
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
