import { type Metric, register } from 'prom-client';

/**
 * The process-wide metric of that name, created on first use. Libraries declare their metrics
 * where they use them; a second instance (tests open many stores) reuses the registered one.
 */
export function registered<T extends Metric>(name: string, create: () => T): T {
  return (register.getSingleMetric(name) as T | undefined) ?? create();
}
