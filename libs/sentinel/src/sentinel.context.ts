import type { CustosContext } from '@custos/kernel';
import { INCIDENT_PERSONAL } from './domain/incident.events.js';
import { REFERENCE_PERSONAL } from './domain/reference.events.js';
import { IncidentsProjection, PatientProfilesProjection } from './incidents.projection.js';
import { INCIDENT_HANDLERS } from './incident.handlers.js';
import { INCIDENT_QUERY_HANDLERS } from './incident.read-handlers.js';
import { Sentinel1764000014000 } from './migrations/1764000014000-sentinel.js';
import { Findings1764000020500 } from './migrations/1764000020500-findings.js';
import { FindingsProjection } from './findings.projection.js';
import { FINDING_HANDLERS } from './findings.handlers.js';
import { REFERENCE_HANDLERS } from './reference.handlers.js';

/** Incident response: reference data, the sentinel's record, incidents run as events; and the dataset rules' findings for stewards. */
export const sentinelContext: CustosContext = {
  name: 'sentinel',
  personal: { ...REFERENCE_PERSONAL, ...INCIDENT_PERSONAL },
  migrations: [Sentinel1764000014000, Findings1764000020500],
  projections: () => [new IncidentsProjection(), new PatientProfilesProjection(), new FindingsProjection()],
  gatewayProviders: () => [...REFERENCE_HANDLERS, ...INCIDENT_HANDLERS, ...INCIDENT_QUERY_HANDLERS, ...FINDING_HANDLERS],
};
