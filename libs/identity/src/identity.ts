/** The roles Custos knows (JWT claim `roles`). */
export const ROLES = ['patient', 'clinician', 'annotator', 'reviewer', 'data-steward', 'researcher', 'security-officer', 'regulator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/** Who is calling, from a verified token. */
export interface Identity {
  readonly sub: string;
  readonly roles: readonly Role[];
  /** For the patient role: the patient this identity is. */
  readonly patientId?: string;
  /** e.g. `certified-radiologist`. */
  readonly credentials: readonly string[];
  /** Token expiry, seconds since the epoch. */
  readonly exp: number;
}
