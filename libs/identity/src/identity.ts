import type { Role } from '@custos/vocabulary';
export { ROLES, isRole, type Role } from '@custos/vocabulary';

/** Who is calling, from a verified token. */
export interface Identity {
  readonly sub: string;
  readonly roles: readonly Role[];
  /** For the patient role: the patient this identity is. */
  readonly patientId?: string;
  /** e.g. `certified-radiologist`. */
  readonly credentials: readonly string[];
  /** The organisation the identity acts for (claim `org`), if any. */
  readonly org?: string;
  /** The purpose of use the identity provider asserted (IHE IUA claim `purpose_of_use`: a code), if any. */
  readonly purposeOfUse?: string;
  /** Token expiry, seconds since the epoch. */
  readonly exp: number;
}
