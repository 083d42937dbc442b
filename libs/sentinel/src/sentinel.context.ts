import type { CustosContext } from '@custos/kernel';
import { INCIDENT_PERSONAL } from './domain/incident.events.js';
import { REFERENCE_PERSONAL } from './domain/reference.events.js';
import { IncidentsProjection, PatientProfilesProjection } from './incidents.projection.js';
import { INCIDENT_HANDLERS } from './incident.handlers.js';
import { INCIDENT_QUERY_HANDLERS } from './incident.read-handlers.js';
import { Sentinel1764000014000 } from './migrations/1764000014000-sentinel.js';
import { REFERENCE_HANDLERS } from './reference.handlers.js';

/** Incident response: reference data, the sentinel's record, incidents run as events. */
export const sentinelContext: CustosContext = {
  name: 'sentinel',
  personal: { ...REFERENCE_PERSONAL, ...INCIDENT_PERSONAL },
  migrations: [Sentinel1764000014000],
  projections: () => [new IncidentsProjection(), new PatientProfilesProjection()],
  gatewayProviders: () => [...REFERENCE_HANDLERS, ...INCIDENT_HANDLERS, ...INCIDENT_QUERY_HANDLERS],
};
