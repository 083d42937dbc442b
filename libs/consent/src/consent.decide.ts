import { PURPOSES, Purpose } from '@custos/authz';
import type { ConsentChangedData, ConsentEvent, DataCategory } from './consent.events.js';
import { DATA_CATEGORIES } from './consent.events.js';

/**
 * The consent of one patient, as a pure decider (Emmett style): initialState, evolve,
 * decide. Time and who comes in with the command; nothing here reads a clock or a database.
 */
export interface PurposeConsent {
  readonly status: 'granted' | 'denied';
  readonly categories: readonly DataCategory[];
  readonly expiresAt: string | null;
  readonly recipients: readonly string[];
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

/** The defaults: purposes granted unless the patient opts out (configurable). */
export interface ConsentDefaults {
  readonly granted: readonly Purpose[];
}

export const STANDARD_DEFAULTS: ConsentDefaults = { granted: ['TREATMENT', 'OPERATIONS'] };

export interface EffectiveConsent {
  readonly granted: boolean;
  /** The stream version the answer relied on (0: only the defaults). */
  readonly version: number;
  readonly source: 'default' | 'explicit' | 'expired';
}

/**
 * Whether `purpose` is granted for `category` at instant `at`, for a recipient: an explicit
 * choice wins over the default; an expired grant counts as denied; a grant covers only its
 * categories and, when it names recipients, only those.
 */
export function consentAt(state: ConsentState, defaults: ConsentDefaults, purpose: Purpose, category: DataCategory, at: Date, recipients: readonly string[] = []): EffectiveConsent {
  const explicit = state.purposes[purpose];
  if (!explicit) return { granted: defaults.granted.includes(purpose), version: state.version, source: 'default' };
  if (explicit.status === 'denied') return { granted: false, version: state.version, source: 'explicit' };
  if (explicit.expiresAt !== null && new Date(explicit.expiresAt).getTime() <= at.getTime()) return { granted: false, version: state.version, source: 'expired' };
  const covers = explicit.categories.includes(category) && (explicit.recipients.length === 0 || recipients.some((r) => explicit.recipients.includes(r)));
  return { granted: covers, version: state.version, source: 'explicit' };
}

export type ConsentDecision<E> = { ok: true; event: E } | { ok: false; code: string; message: string };

export interface ChangeConsent {
  readonly patientId: string;
  readonly purpose: Purpose;
  readonly status: 'granted' | 'denied';
  readonly categories?: readonly DataCategory[];
  readonly expiresAt?: string;
  readonly recipients?: readonly string[];
  readonly channel: 'patient-portal' | 'paper';
  readonly capturedBy?: string;
  readonly evidenceRef?: string;
  readonly now: Date;
}

export function decideChangeConsent(command: ChangeConsent, _state: ConsentState): ConsentDecision<{ type: 'ConsentChanged'; data: ConsentChangedData }> {
  if (!(PURPOSES as readonly string[]).includes(command.purpose)) return { ok: false, code: 'unknown-purpose', message: `unknown purpose ${command.purpose}` };
  if (command.expiresAt !== undefined && new Date(command.expiresAt).getTime() <= command.now.getTime()) {
    return { ok: false, code: 'expiry-in-the-past', message: 'expiresAt must be in the future' };
  }
  if (command.channel === 'paper' && (!command.capturedBy || !command.evidenceRef)) {
    return { ok: false, code: 'paper-consent-needs-evidence', message: 'a consent captured on paper needs capturedBy and evidenceRef' };
  }
  const categories = command.categories && command.categories.length > 0 ? [...new Set(command.categories)] : [...DATA_CATEGORIES];
  return {
    ok: true,
    event: {
      type: 'ConsentChanged',
      data: {
        patientId: command.patientId,
        purpose: command.purpose,
        status: command.status,
        categories,
        expiresAt: command.expiresAt !== undefined ? new Date(command.expiresAt).toISOString() : null,
        recipients: [...new Set(command.recipients ?? [])],
        channel: command.channel,
        ...(command.capturedBy ? { capturedBy: command.capturedBy } : {}),
        ...(command.evidenceRef ? { evidenceRef: command.evidenceRef } : {}),
      },
    },
  };
}

export interface WithdrawConsent {
  readonly patientId: string;
  readonly purpose: Purpose;
  readonly channel: 'patient-portal' | 'paper';
  readonly capturedBy?: string;
  readonly evidenceRef?: string;
}

/** Withdrawing an explicit choice returns the purpose to its default; with none, there is nothing to withdraw. */
export function decideWithdrawConsent(command: WithdrawConsent, state: ConsentState): ConsentDecision<{ type: 'ConsentWithdrawn'; data: { patientId: string; purpose: Purpose; channel: 'patient-portal' | 'paper'; capturedBy?: string; evidenceRef?: string } }> {
  if (!state.purposes[command.purpose]) return { ok: false, code: 'nothing-to-withdraw', message: `there is no explicit consent for ${command.purpose} to withdraw` };
  if (command.channel === 'paper' && (!command.capturedBy || !command.evidenceRef)) {
    return { ok: false, code: 'paper-consent-needs-evidence', message: 'a consent captured on paper needs capturedBy and evidenceRef' };
  }
  return {
    ok: true,
    event: {
      type: 'ConsentWithdrawn',
      data: {
        patientId: command.patientId,
        purpose: command.purpose,
        channel: command.channel,
        ...(command.capturedBy ? { capturedBy: command.capturedBy } : {}),
        ...(command.evidenceRef ? { evidenceRef: command.evidenceRef } : {}),
      },
    },
  };
}
