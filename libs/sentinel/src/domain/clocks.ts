import type { IncidentView } from './incident.decide.js';
import type { RecipientClass } from './incident.events.js';

export type ClockStatus = 'not-applicable' | 'running' | 'met' | 'overdue';

export interface Clock {
  readonly clock: 'hipaa-individuals' | 'hipaa-media' | 'hipaa-hhs' | 'gdpr-art33';
  readonly status: ClockStatus;
  /** ISO instant, when the clock applies. */
  readonly deadline: string | null;
  /** Why it applies or not, in words. */
  readonly basis: string;
  /** A law-enforcement hold that moves the deadline (164.412), when one does. */
  readonly hold: { readonly kind: 'written' | 'oral'; readonly until: string } | null;
  /** When the notification was recorded, if it was. */
  readonly metAt: string | null;
}

const DAY = 86_400_000;

/** Who is affected: how many, per state or jurisdiction of residence, and how many EU data subjects. */
export interface AffectedCounts {
  readonly total: number;
  readonly byRegion: Readonly<Record<string, number>>;
  readonly euResidents: number;
}

/** The counts of an affected-patients list (patients without a recorded region count in the total only). */
export function countAffected(patients: ReadonlyArray<{ readonly region: string | null; readonly euDataSubject: boolean | null }>): AffectedCounts {
  const byRegion: Record<string, number> = {};
  for (const p of patients) if (p.region) byRegion[p.region] = (byRegion[p.region] ?? 0) + 1;
  return { total: patients.length, byRegion, euResidents: patients.filter((p) => p.euDataSubject === true).length };
}

/**
 * The counts the clocks and drafts use: the larger of what the assessment states and what the
 * record shows (the affected-patients list), per figure, so an assessment cannot undercount the
 * record nor the record an officer's wider finding.
 */
export function mergeAffected(assessed: AffectedCounts | undefined, observed: AffectedCounts | undefined): AffectedCounts {
  if (!observed) return assessed ?? { total: 0, byRegion: {}, euResidents: 0 };
  if (!assessed) return observed;
  const byRegion: Record<string, number> = { ...assessed.byRegion };
  for (const [r, n] of Object.entries(observed.byRegion)) byRegion[r] = Math.max(byRegion[r] ?? 0, n);
  return { total: Math.max(assessed.total, observed.total), byRegion, euResidents: Math.max(assessed.euResidents, observed.euResidents) };
}

/** 60 days after the end of the calendar year (UTC) of `at`: the HHS annual log's due date for breaches under 500. */
export function annualLogDue(at: Date): Date {
  const yearEnd = Date.UTC(at.getUTCFullYear(), 11, 31);
  return new Date(yearEnd + 60 * DAY);
}

/**
 * The legal clocks of one incident, from its recorded facts. HIPAA (45 CFR 164.404-408):
 * individuals within 60 days of discovery; the media too when more than 500 residents of one
 * state or jurisdiction are affected; HHS with the individual notices when 500 or more are
 * affected, else in the annual log due 60 days after the end of the calendar year of
 * discovery. A law-enforcement hold (164.412) moves a deadline that falls within it to its
 * end. GDPR Art. 33: the supervisory authority within 72 hours of becoming aware, when EU
 * residents are affected. Only an assessed breach starts any of them. `observed`: the counts of
 * the affected-patients list; each figure is the larger of it and the assessment's.
 */
export function incidentClocks(incident: Pick<IncidentView, 'assessment' | 'discoveredAt' | 'awareAt' | 'notifications' | 'holds'>, now: Date, observed?: AffectedCounts): Clock[] {
  const a = incident.assessment;
  const discovered = new Date(incident.discoveredAt);
  const breach = a?.decision === 'breach';
  const notified = (c: RecipientClass) => incident.notifications.filter((n) => n.recipientClass === c).sort((x, y) => x.date.localeCompare(y.date))[0]?.date ?? null;
  const withHold = (deadline: Date): { deadline: Date; hold: Clock['hold'] } => {
    let d = deadline;
    let hold: Clock['hold'] = null;
    for (const h of incident.holds) {
      const from = Date.parse(h.from);
      const until = Date.parse(h.until);
      if (d.getTime() >= from && d.getTime() < until) {
        d = new Date(until);
        hold = { kind: h.kind, until: h.until };
      }
    }
    return { deadline: d, hold };
  };
  const clock = (name: Clock['clock'], applies: boolean, basis: string, deadline: Date | null, recipient: RecipientClass, hipaa: boolean): Clock => {
    if (!applies || !deadline) return { clock: name, status: 'not-applicable', deadline: null, basis, hold: null, metAt: null };
    const held = hipaa ? withHold(deadline) : { deadline, hold: null };
    const metAt = notified(recipient);
    const status: ClockStatus = metAt ? 'met' : now.getTime() > held.deadline.getTime() ? 'overdue' : 'running';
    return { clock: name, status, deadline: held.deadline.toISOString(), basis, hold: held.hold, metAt };
  };
  if (!a) {
    const why = 'no breach assessment recorded yet';
    return (['hipaa-individuals', 'hipaa-media', 'hipaa-hhs', 'gdpr-art33'] as const).map((c) => ({ clock: c, status: 'not-applicable', deadline: null, basis: why, hold: null, metAt: null }));
  }
  const affected = mergeAffected(a.affected, observed);
  const total = affected.total;
  const largestRegion = Object.entries(affected.byRegion).sort((x, y) => y[1] - x[1])[0];
  const sixty = new Date(discovered.getTime() + 60 * DAY);
  return [
    clock('hipaa-individuals', breach, breach ? `breach of ${total} individuals' PHI: notice within 60 days of discovery` : 'assessed: low probability of compromise', sixty, 'individuals', true),
    clock(
      'hipaa-media',
      breach && (largestRegion?.[1] ?? 0) > 500,
      breach && largestRegion && largestRegion[1] > 500 ? `more than 500 residents of ${largestRegion[0]} (${largestRegion[1]})` : 'no state or jurisdiction with more than 500 affected residents',
      sixty,
      'media',
      true,
    ),
    clock(
      'hipaa-hhs',
      breach,
      breach ? (total >= 500 ? `${total} affected (500 or more): with the individual notices` : `${total} affected (fewer than 500): in the annual log for ${discovered.getUTCFullYear()}`) : 'not a breach',
      breach ? (total >= 500 ? sixty : annualLogDue(discovered)) : null,
      'hhs',
      true,
    ),
    clock(
      'gdpr-art33',
      breach && affected.euResidents > 0,
      breach && affected.euResidents > 0 ? `${affected.euResidents} EU data subjects: the supervisory authority within 72 hours of awareness` : 'no EU data subjects affected',
      new Date(Date.parse(incident.awareAt) + 72 * 3_600_000),
      'supervisory-authority',
      false,
    ),
  ];
}
