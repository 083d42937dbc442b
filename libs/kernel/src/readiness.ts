/**
 * A check /health runs besides the database.
 * - `ready` (the default): a dependency the process cannot serve without (Kafka in distributed
 *   mode); failing, /health answers 503 and a load balancer takes the process out.
 * - `alarm`: something a person must look at while the process keeps serving (a quarantined
 *   event, a witness refusal or lag, a forged message refused); failing, /health still answers
 *   200 but with `status: "degraded"` and the alarm raised under `alarms`. Taking a gateway out
 *   of rotation over one of these would let whoever can plant one bad event stop the service.
 */
export interface ReadinessProbe {
  readonly name: string;
  readonly kind?: 'ready' | 'alarm';
  check(): Promise<void>;
}

export const READINESS_PROBES = Symbol('READINESS_PROBES');
