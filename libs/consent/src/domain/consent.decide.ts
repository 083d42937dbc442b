import { couldUseForPurpose, type Principal } from '@custos/authz';
import type { Decider } from '@custos/decider';
import { ForbiddenError, NotFoundError, UnprocessableError, ValidationError } from '@custos/errors';
import { DATA_CATEGORIES, type DataCategory, isPurpose, type Purpose } from '@custos/vocabulary';
import type { ConsentChannel, ConsentEvent, Recipient } from './consent.events.js';

/**
 * The consent of one patient, as a pure decider (Emmett style): initialState, evolve,
 * decide. Time and who come in with the command; nothing here reads a clock or a database.
 */
export interface PurposeConsent {
  readonly status: 'granted' | 'denied';
  readonly categories: readonly DataCategory[];
  readonly expiresAt: string | null;
  readonly recipients: readonly Recipient[];
  /** Stream version of the change that set it. */
  readonly version: number;
}

export interface ConsentState {
  /** Stream version: the number of consent events so far. */
  readonly version: number;
  /** Explicit choices; a purpose absent here is at its default. */
  readonly purposes: Readonly<Partial<Record<Purpose, PurposeConsent>>>;
}

export const initialConsentState: ConsentState = { version: 0, purposes: {} };

export function evolveConsent(state: ConsentState, event: ConsentEvent): ConsentState {
  const version = state.version + 1;
  if (event.type === 'ConsentChanged') {
    const d = event.data;
    return { version, purposes: { ...state.purposes, [d.purpose]: { status: d.status, categories: [...d.categories], expiresAt: d.expiresAt, recipients: [...d.recipients], version } } };
  }
  const purposes = { ...state.purposes };
  delete purposes[event.data.purpose];
  return { version, purposes };
}

export function foldConsent(events: readonly ConsentEvent[]): ConsentState {
  return events.reduce(evolveConsent, initialConsentState);
}

/**
 * A deployment's consent rules: the purposes granted until a patient opts out, and the
 * purposes patients may restrict at all (the others are always granted, and a change to them
 * is refused, so no receipt promises what Custos will not enforce).
 */
export interface ConsentRules {
  readonly defaultGranted: readonly Purpose[];
  readonly restrictable: readonly Purpose[];
}

export const STANDARD_RULES: ConsentRules = { defaultGranted: ['TREATMENT', 'OPERATIONS'], restrictable: ['TREATMENT', 'RESEARCH', 'AI_TRAINING', 'OPERATIONS', 'PUBLIC_HEALTH'] };

/** Who would receive the data: matched against a grant's typed recipients, each by its own type. */
export interface Requester {
  readonly user: string;
  readonly dataset?: string;
  readonly organization?: string;
}

export interface EffectiveConsent {
  readonly granted: boolean;
  /** The stream version the answer relied on (0: only the defaults). */
  readonly version: number;
  readonly source: 'default' | 'explicit' | 'expired' | 'not-restrictable';
}

function matches(r: Recipient, who: Requester): boolean {
  if (r.type === 'user') return r.id === who.user;
  if (r.type === 'dataset') return who.dataset !== undefined && r.id === who.dataset;
  return who.organization !== undefined && r.id === who.organization;
}

/**
 * Whether `purpose` is granted for `category` at instant `at`, for a requester: a purpose
 * patients may not restrict is always granted; an explicit choice wins over the default; an
 * expired grant counts as denied; a grant covers only its categories and, when it names
 * recipients, only those (a user by id, a dataset by id, an organisation by id).
 */
export function consentAt(state: ConsentState, rules: ConsentRules, purpose: Purpose, category: DataCategory, at: Date, who: Requester): EffectiveConsent {
  if (!rules.restrictable.includes(purpose)) return { granted: true, version: state.version, source: 'not-restrictable' };
  const explicit = state.purposes[purpose];
  if (!explicit) return { granted: rules.defaultGranted.includes(purpose), version: state.version, source: 'default' };
  if (explicit.status === 'denied') return { granted: false, version: state.version, source: 'explicit' };
  if (explicit.expiresAt !== null && new Date(explicit.expiresAt).getTime() <= at.getTime()) return { granted: false, version: state.version, source: 'expired' };
  const covers = explicit.categories.includes(category) && (explicit.recipients.length === 0 || explicit.recipients.some((r) => matches(r, who)));
  return { granted: covers, version: state.version, source: 'explicit' };
}

interface Capture {
  readonly channel: ConsentChannel;
  readonly capturedBy?: string;
  readonly evidenceRef?: string;
}

export interface ChangeConsent extends Capture {
  readonly type: 'ChangeConsent';
  readonly patientId: string;
  readonly purpose: Purpose;
  readonly status: 'granted' | 'denied';
  readonly categories?: readonly DataCategory[];
  /** A valid instant (the edge parses it). */
  readonly expiresAt?: Date;
  readonly recipients?: readonly Recipient[];
  /** Who records it (separation of duties) and the rules in force. */
  readonly recordedBy: Principal;
  readonly rules: ConsentRules;
  readonly now: Date;
}

export interface WithdrawConsent extends Capture {
  readonly type: 'WithdrawConsent';
  readonly patientId: string;
  readonly purpose: Purpose;
  readonly recordedBy: Principal;
  readonly rules: ConsentRules;
}

export type ConsentCommand = ChangeConsent | WithdrawConsent;

/**
 * Whether two written identities name the same person: compared after Unicode NFKC, case
 * folding, dropping invisible (default-ignorable) characters and trimming, so `Steward-1`,
 * ` steward-1 `, `steward\u200B-1` and full-width letters are one person.
 */
function sameIdentity(a: string, b: string): boolean {
  const norm = (s: string) => s.normalize('NFKC').toLocaleLowerCase('en').replace(/\p{Default_Ignorable_Code_Point}/gu, '').trim();
  return norm(a) === norm(b);
}

function checkCommon(command: ConsentCommand): void {
  if (!isPurpose(command.purpose)) throw new ValidationError(`unknown purpose ${String(command.purpose)}`, undefined, 'unknown-purpose');
  if (!command.rules.restrictable.includes(command.purpose)) {
    throw new UnprocessableError(`patients cannot restrict ${command.purpose} in this deployment, so no consent for it is recorded`, { purpose: command.purpose }, 'purpose-not-restrictable');
  }
  if (command.channel !== 'paper') return;
  if (!command.capturedBy || !command.evidenceRef) throw new ValidationError('a consent captured on paper needs capturedBy and evidenceRef', undefined, 'paper-consent-needs-evidence');
  // Separation of duties: whoever records a paper consent neither captured it themselves nor
  // could use the data for that purpose once it is granted.
  if (sameIdentity(command.capturedBy, command.recordedBy.sub)) {
    throw new ForbiddenError('capturedBy must be someone other than the person recording the consent', undefined, 'separation-of-duties');
  }
  if (couldUseForPurpose(command.recordedBy, command.purpose)) {
    throw new ForbiddenError(`your own roles could use patient data for ${command.purpose}: someone else must record this consent`, { purpose: command.purpose }, 'separation-of-duties');
  }
}

export const consentDecider: Decider<ConsentState, ConsentCommand, ConsentEvent> = {
  initialState: initialConsentState,
  evolve: evolveConsent,
  decide(command, state) {
    checkCommon(command);
    const provenance = { channel: command.channel, ...(command.capturedBy ? { capturedBy: command.capturedBy } : {}), ...(command.evidenceRef ? { evidenceRef: command.evidenceRef } : {}) };
    if (command.type === 'WithdrawConsent') {
      if (!state.purposes[command.purpose]) throw new NotFoundError(`there is no explicit consent for ${command.purpose} to withdraw`, { purpose: command.purpose }, 'nothing-to-withdraw');
      return [{ type: 'ConsentWithdrawn', data: { patientId: command.patientId, purpose: command.purpose, ...provenance } }];
    }
    if (command.expiresAt !== undefined && command.expiresAt.getTime() <= command.now.getTime()) {
      throw new ValidationError('expiresAt must be in the future', undefined, 'expiry-in-the-past');
    }
    // Left out means every category; a list given empty says nothing, and is not read as every one.
    if (command.categories !== undefined && command.categories.length === 0) {
      throw new ValidationError('categories, when given, names at least one category (leave it out for all of them)', { field: 'categories' }, 'bad-categories');
    }
    const categories = command.categories ? [...new Set(command.categories)] : [...DATA_CATEGORIES];
    const seen = new Set<string>();
    const recipients = (command.recipients ?? []).filter((r) => !seen.has(`${r.type}:${r.id}`) && seen.add(`${r.type}:${r.id}`));
    return [
      {
        type: 'ConsentChanged',
        data: {
          patientId: command.patientId,
          purpose: command.purpose,
          status: command.status,
          categories,
          expiresAt: command.expiresAt !== undefined ? command.expiresAt.toISOString() : null,
          recipients,
          ...provenance,
        },
      },
    ];
  },
};
