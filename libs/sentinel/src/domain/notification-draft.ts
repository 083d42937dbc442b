import { type AffectedCounts, mergeAffected } from './clocks.js';
import type { IncidentView } from './incident.decide.js';

/** One part of a notice: the text drafted from the record, and whether a person must write or check it. */
export interface DraftSection {
  readonly element: string;
  readonly heading: string;
  readonly text: string;
  readonly needsHuman: boolean;
}

export interface NotificationDraft {
  readonly regulation: 'HIPAA 45 CFR 164.404(c)' | 'GDPR Art. 33(3)';
  readonly applicable: boolean;
  readonly why: string;
  readonly sections: readonly DraftSection[];
  /** The drafts are never sent: a person completes, approves and sends them, then records the notification. */
  readonly sent: false;
}

export interface DraftFacts {
  /** The first access the evidence names (the breach's date, as far as the record shows). */
  readonly breachStart: string | null;
  /** Resource types touched (image, annotation, patient-record, ...). */
  readonly dataCategories: readonly string[];
  readonly records: number;
  /** The counts of the affected-patients list (the subject's accesses in the window, and patients officers added). */
  readonly affected?: AffectedCounts;
}

const CATEGORY_WORDS: Readonly<Record<string, string>> = {
  image: 'medical images (with their imaging metadata)',
  annotation: "clinicians' annotations of medical images",
  'patient-record': 'patient record entries',
};

const day = (iso: string | null) => (iso ? iso.slice(0, 10) : '[date unknown: to be established]');
const TODO = (what: string) => `[TO BE COMPLETED: ${what}]`;

/**
 * Drafts of the notices an assessed breach calls for, from what the incident records: the
 * HIPAA individual notice's five elements (164.404(c)(1)(A)-(E)) and the GDPR Art. 33(3)
 * notification to the supervisory authority. Sections a person must write are marked; nothing
 * here is sent.
 */
export function notificationDrafts(incident: Pick<IncidentView, 'incidentId' | 'assessment' | 'discoveredAt' | 'awareAt' | 'patientIds' | 'state'>, facts: DraftFacts): NotificationDraft[] {
  const a = incident.assessment;
  const breach = a?.decision === 'breach';
  const categories = facts.dataCategories.length > 0 ? facts.dataCategories.map((c) => CATEGORY_WORDS[c] ?? c).join('; ') : TODO('the kinds of information involved');
  const counts = mergeAffected(a?.affected, facts.affected ?? { total: incident.patientIds.length, byRegion: {}, euResidents: 0 });
  const affected = counts.total;
  const why = !a ? 'no breach assessment is recorded yet: the drafts show what the record holds so far' : breach ? 'the assessment concluded a breach' : 'the assessment concluded a low probability of compromise: no notice is required';
  const hipaa: NotificationDraft = {
    regulation: 'HIPAA 45 CFR 164.404(c)',
    applicable: breach,
    why,
    sent: false,
    sections: [
      {
        element: '164.404(c)(1)(A)',
        heading: 'What happened',
        text: `On ${day(facts.breachStart)}, a member of our workforce accessed medical information without a need to know it. We discovered this on ${day(incident.discoveredAt)}. ${TODO('a brief description in plain language, checked against the investigation')}`,
        needsHuman: true,
      },
      { element: '164.404(c)(1)(B)', heading: 'What information was involved', text: `The information involved: ${categories}.`, needsHuman: false },
      {
        element: '164.404(c)(1)(C)',
        heading: 'What you can do',
        text: `Review the statements and notices you receive from your health care providers and insurers, and tell us about anything you do not recognise. ${TODO('steps specific to this breach, if any')}`,
        needsHuman: true,
      },
      {
        element: '164.404(c)(1)(D)',
        heading: 'What we are doing',
        text: `We investigated the access (case ${incident.incidentId}), ${incident.state === 'CONTAINED' || incident.state === 'BREACH_ASSESSED' || incident.state === 'NOTIFYING' || incident.state === 'RESOLVED' || incident.state === 'CLOSED' ? 'contained it' : 'are containing it'}, and keep a tamper-evident record of every access to your information. ${TODO('mitigation and the measures against recurrence')}`,
        needsHuman: true,
      },
      { element: '164.404(c)(1)(E)', heading: 'For more information', text: TODO('a toll-free telephone number, an email address, a website or a postal address'), needsHuman: true },
    ],
  };
  const gdpr: NotificationDraft = {
    regulation: 'GDPR Art. 33(3)',
    applicable: breach && counts.euResidents > 0,
    why: breach ? (counts.euResidents > 0 ? `${counts.euResidents} EU data subjects are affected` : 'no EU data subjects are affected') : why,
    sent: false,
    sections: [
      {
        element: 'Art. 33(3)(a)',
        heading: 'Nature of the breach',
        text: `Unauthorised access to health data (Art. 9) by a member of staff. Categories: ${categories}. Approximate number of data subjects: ${affected}${a ? ` (of whom ${counts.euResidents} EU residents)` : ''}; approximate number of records: ${facts.records}. Became aware: ${incident.awareAt}.`,
        needsHuman: false,
      },
      { element: 'Art. 33(3)(b)', heading: 'Contact point', text: TODO('name and contact details of the data protection officer or other contact point'), needsHuman: true },
      { element: 'Art. 33(3)(c)', heading: 'Likely consequences', text: TODO('the likely consequences for the data subjects'), needsHuman: true },
      { element: 'Art. 33(3)(d)', heading: 'Measures taken or proposed', text: `Access investigated and contained (case ${incident.incidentId}). ${TODO('measures to address the breach and mitigate its effects')}`, needsHuman: true },
    ],
  };
  return [hipaa, gdpr];
}
