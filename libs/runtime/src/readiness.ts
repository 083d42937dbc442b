/** A dependency readiness depends on besides the database (Kafka in distributed mode). */
export interface ReadinessProbe {
  readonly name: string;
  check(): Promise<void>;
}

export const READINESS_PROBES = Symbol('READINESS_PROBES');
