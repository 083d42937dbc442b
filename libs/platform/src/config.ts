import { resolve } from 'node:path';
import { epsilonMicrosOf } from '@custos/vocabulary';

/**
 * Custos configuration: read from the environment once, at boot, by `loadConfig`, validated,
 * and handed to modules as a typed object. Libraries never read `process.env` themselves.
 * A bad value throws ConfigError naming the variable; the process then stops.
 */
export type DatabaseConfig =
  | { kind: 'pglite'; dataDir: string }
  | { kind: 'postgres'; url: string; poolSize: number };

export interface KafkaConfig {
  brokers: string[];
  clientId: string;
  topicPartitions: number;
  /** Prefix for every topic name (empty in production; tests isolate runs with it). */
  topicPrefix: string;
  /** This process's Kafka principal (SASL), where the brokers require one (docs/kafka.md: only the relay's may produce). */
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
  /** TLS to the brokers; `caFile`: a PEM bundle to trust instead of the system's. */
  ssl?: { caFile?: string };
}

export interface AuthConfig {
  issuer: string;
  audience: string;
  jwksUrl?: string;
  jwksFile?: string;
  /** The local development issuer (POST /v1/dev/tokens); on by default in embedded mode only. */
  devIssuer: boolean;
  /** Where the dev issuer keeps its key (embedded: inside DATA_DIR); unset: a key per process. */
  devKeyFile?: string;
  /** The dev issuer's own `iss` (never the production issuer's name). */
  devIssuerName: string;
  /** Most bytes of verified tokens kept in the cache (with the count bound). */
  tokenCacheBytes: number;
  clockSkewSeconds: number;
  algorithms: string[];
}

export interface ConsentConfig {
  /** Purposes granted until the patient opts out. */
  defaultGranted: string[];
  /** Purposes patients may restrict; consent for the others is always granted and cannot be changed. */
  restrictable: string[];
  /** Where the receipt-signing key is kept (embedded: inside DATA_DIR); unset: one per process. */
  receiptKeyFile?: string;
}

/** Where the key-encryption key comes from; the key service opens it at boot. */
export type KekConfig =
  | { kind: 'file'; path: string }
  | { kind: 'inline'; base64url: string }
  | { kind: 'generated'; path: string }
  | { kind: 'memory' }
  | { kind: 'none' };

export interface CustosConfig {
  mode: 'embedded' | 'distributed';
  http: { host: string; port: number };
  database: DatabaseConfig;
  kafka: KafkaConfig | null;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  relay: { batchSize: number; pollIntervalMs: number };
  projector: { groupId: string };
  auth: AuthConfig;
  consent: ConsentConfig;
  keys: { kek: KekConfig };
  log: { origin: string; integrateMs: number; checkpointMs: number; witnessUrls: string[]; witnessMaxLagMs: number };
  /** `rules`: parameter overrides by rule (merged with the defaults and validated by the sentinel at start). */
  sentinel: { pollMs: number; groupId: string; rules: Record<string, unknown> };
  /** The image archive Custos sits in front of (DICOMweb); null when none is configured (the routes answer 503 no-archive). */
  dicomweb: DicomwebConfig | null;
  /** The FHIR AuditEvent ingest: what names a Custos patient (another system's patient is another domain's). */
  auditIngest: AuditIngestConfig;
  /** Balance reports under differential privacy, and the bias thresholds (docs/bias.md). */
  fairness: FairnessConfig;
}

/**
 * Privacy budgets are in micro-epsilon (ε × 10^6, integers), so sequential composition is an
 * exact sum and a budget is never exceeded by rounding.
 */
export interface FairnessConfig {
  /** Per requester and dataset, in micro-epsilon. */
  epsilonPerRequester: number;
  /** Per dataset for everyone, in micro-epsilon. */
  epsilonPerDataset: number;
  /** Most one release may spend, in micro-epsilon. */
  epsilonMaxPerRelease: number;
  /** Least one release may spend, in micro-epsilon: bounds how many releases a budget buys. */
  epsilonMinPerRelease: number;
  /** Most images one patient adds to an image count (contributions clipped). */
  clipImages: number;
  /** Most approved annotations one patient adds to the label counts, over all labels (contributions clipped). */
  clipAnnotations: number;
  /** A group is flagged when its whole representation interval is under this ratio. */
  minRepresentation: number;
  /** Largest acceptable gap in sensitivity between groups (absolute). */
  maxGap: number;
  /** Fewest cases for a group's evaluation to be judged. */
  minGroupSize: number;
  /** A group's agreement below this (over its last `kappaWindow` reviews) is a finding. */
  minKappa: number;
  kappaWindow: number;
  /** A model whose snapshots lost more than this share of their patients' AI_TRAINING consent is a finding. */
  maxConsentLoss: number;
  /** The ethnicity groups a report counts (public; any other value counts as `other`). */
  ethnicityGroups: string[];
}

export interface AuditIngestConfig {
  /** Identifier systems whose values are Custos patient ids (an identifier without a system is taken too). */
  patientSystems: string[];
  /** Absolute FHIR bases whose `Patient/<id>` references are Custos patients (no trailing slash); relative references always are. */
  fhirBases: string[];
}

/** The identifier system Custos itself writes for its patient ids (the trail's FHIR form). */
export const CUSTOS_PATIENT_ID_SYSTEM = 'https://custos.dev/fhir/patient-id';

export interface DicomwebConfig {
  /** The archive's DICOMweb root, e.g. http://127.0.0.1:8042/dicom-web (no trailing slash). */
  upstream: string;
  /** A file holding `user:password` for the archive's HTTP basic authentication (only Custos holds it). */
  credentialsFile: string | null;
  /** The archive's own REST API (Orthanc): its changes feed and its anonymisation. */
  orthancUrl: string | null;
  maxStowBytes: number;
  /** Purposes whose reads are de-identified on the way out. */
  deidentifyPurposes: string[];
  /** The dataset instances join when STOW-RS names none, and instances found in the archive's feed. */
  defaultDataset: string;
  /** The hospital's own IssuerOfPatientID: instances of another issuer are not taken (their PatientID is another domain's). */
  localIssuer: string | null;
  /** How often the archive's changes feed is read, ms (0: never). */
  feedPollMs: number;
  /** How long the archive may take to start answering, ms (then 504). */
  timeoutMs: number;
}

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`Invalid configuration: ${variable} ${message}`);
    this.name = 'ConfigError';
  }
}

type Env = Readonly<Record<string, string | undefined>>;

/** Every variable Custos reads, with its meaning (the README's configuration table says the same). */
export const CONFIG_VARIABLES = {
  CUSTOS_MODE: 'embedded | distributed (default: distributed when DATABASE_URL is set, else embedded)',
  HOST: 'HTTP listen address (default 127.0.0.1)',
  PORT: 'HTTP port (default 3000)',
  DATA_DIR: 'embedded mode: PGlite data folder (default ./data)',
  DATABASE_URL: 'distributed mode: postgres:// URL of the event store and read models',
  DATABASE_POOL_SIZE: 'distributed mode: connections per process (default 10)',
  KAFKA_BROKERS: 'distributed mode: comma-separated host:port list (required there)',
  KAFKA_CLIENT_ID: 'Kafka client id prefix (default custos)',
  KAFKA_TOPIC_PARTITIONS: 'partitions per topic when Custos creates topics (default 6)',
  KAFKA_TOPIC_PREFIX: 'prefix for every topic name (default none: custos.access, custos.consent, …)',
  KAFKA_SASL_MECHANISM: 'scram-sha-512 | scram-sha-256 | plain: authenticate to the brokers as KAFKA_SASL_USERNAME (default none)',
  KAFKA_SASL_USERNAME: 'this process\'s Kafka principal (each process its own: docs/kafka.md)',
  KAFKA_SASL_PASSWORD: 'its password',
  KAFKA_SSL: 'true | false: TLS to the brokers (default false)',
  KAFKA_SSL_CA_FILE: 'PEM file of the CA the brokers\' certificates chain to (default: the system\'s)',
  LOG_LEVEL: 'fatal | error | warn | info | debug | trace | silent (default info)',
  RELAY_BATCH_SIZE: 'outbox rows the relay publishes per round (default 500)',
  RELAY_POLL_MS: 'relay idle poll interval in ms (default 50)',
  PROJECTOR_GROUP_ID: 'Kafka consumer group of the projector (default custos-projector)',
  AUTH_ISSUER: 'expected JWT iss (default custos-dev)',
  AUTH_AUDIENCE: 'expected JWT aud (default custos)',
  AUTH_JWKS_URL: 'JWKS URL of the identity provider',
  AUTH_JWKS_FILE: 'JWKS file of the identity provider',
  AUTH_DEV_ISSUER: 'true | false: local dev token issuer (default: on in embedded mode on a loopback HOST without AUTH_JWKS_URL/AUTH_JWKS_FILE; off otherwise)',
  AUTH_TOKEN_CACHE_BYTES: 'most bytes of verified tokens kept in memory (default 33554432, 32 MiB)',
  AUTH_CLOCK_SKEW_SECONDS: 'tolerance on exp/nbf (default 30)',
  AUTH_ALGORITHMS: 'accepted JWT algorithms (default ES256,RS256,PS256)',
  CONSENT_DEFAULT_GRANTED: 'purposes granted until a patient opts out (default TREATMENT,OPERATIONS)',
  CONSENT_RESTRICTABLE_PURPOSES: 'purposes patients may restrict (default all five); consent for the others cannot be changed (422)',
  KEK_FILE: 'file holding the key-encryption key as a JWK (or a JWK Set, active key first); distributed mode needs it or KEK',
  KEK: 'the key-encryption key itself: 32 bytes in base64url (instead of KEK_FILE)',
  LOG_ORIGIN: 'the verifiable log\'s origin line in checkpoints (default custos.local/log)',
  LOG_INTEGRATE_MS: 'how often new events are added to the Merkle tree, ms (default 200)',
  WITNESS_URLS: 'comma-separated base URLs of witnesses each checkpoint is submitted to (default none)',
  LOG_CHECKPOINT_MS: 'at most one signed checkpoint per this many ms while the log grows (default 1000)',
  WITNESS_MAX_LAG_MS: 'how long the log may grow without a new cosignature from each witness before the witness-lag alarm, ms (default 300000, or twice LOG_CHECKPOINT_MS + LOG_INTEGRATE_MS if that is more; must be more than LOG_CHECKPOINT_MS + LOG_INTEGRATE_MS)',
  SENTINEL_POLL_MS: 'how often the sentinel looks for new events when nothing wakes it, ms (default 500)',
  SENTINEL_GROUP_ID: 'distributed mode: the sentinel\'s Kafka consumer group (default custos-sentinel)',
  SENTINEL_RULES: 'JSON object of rule parameter overrides, e.g. {"manyPatients":{"perHour":40}} (default none: the documented defaults)',
  DICOMWEB_UPSTREAM: 'the image archive\'s DICOMweb root, e.g. http://127.0.0.1:8042/dicom-web (default none: the /dicom-web routes answer 503 no-archive)',
  DICOMWEB_UPSTREAM_CREDENTIALS_FILE: 'file holding user:password for the archive (0600; only Custos holds it)',
  ORTHANC_URL: 'the archive\'s REST root (Orthanc), for its changes feed and its anonymisation (default: DICOMWEB_UPSTREAM without its last path segment)',
  DICOMWEB_MAX_STOW_BYTES: 'largest STOW-RS body accepted, bytes (default 268435456: 256 MiB)',
  DICOMWEB_DEIDENTIFY_PURPOSES: 'comma-separated purposes whose DICOMweb reads are de-identified (default RESEARCH,AI_TRAINING)',
  DICOMWEB_DEFAULT_DATASET: 'dataset of instances stored without ?dataset= and of those found in the archive\'s feed (default pacs)',
  DICOMWEB_LOCAL_ISSUER: 'the hospital\'s IssuerOfPatientID; instances of another issuer are refused (default none: only instances without an issuer)',
  DICOMWEB_FEED_POLL_MS: 'how often the archive\'s changes feed is read, ms (default 1000; 0 turns the feed off)',
  DICOMWEB_TIMEOUT_MS: 'how long the archive may take to start an answer, ms (default 30000; then 504)',
  AUDIT_INGEST_PATIENT_SYSTEMS: 'comma-separated identifier systems whose values are Custos patient ids in an ingested AuditEvent (default https://custos.dev/fhir/patient-id; an identifier without a system is taken too; any other system is refused)',
  AUDIT_INGEST_FHIR_BASE: 'comma-separated absolute FHIR base URLs whose Patient references in an ingested AuditEvent are Custos patients (default none: only relative Patient/<id> references)',
  DP_EPSILON_PER_REQUESTER: 'privacy budget per requester and dataset, epsilon (default 1.0)',
  DP_EPSILON_PER_DATASET: 'privacy budget per dataset for all requesters together, epsilon (default 4.0)',
  DP_EPSILON_MAX_PER_RELEASE: 'most epsilon one balance report may spend (default 1.0)',
  DP_EPSILON_MIN_PER_RELEASE: 'least epsilon one balance report may spend (default 0.01): bounds how many releases a budget buys',
  DP_CLIP_IMAGES: 'most images one patient adds to a balance report\'s image counts (default 20)',
  DP_CLIP_ANNOTATIONS: 'most approved annotations one patient adds to a balance report\'s label counts, all labels together (default 20)',
  BIAS_MIN_REPRESENTATION: 'a group is flagged when its whole representation-ratio interval is under this (default 0.8)',
  BIAS_MAX_GAP: 'largest acceptable sensitivity gap between groups in a model evaluation, absolute (default 0.05)',
  BIAS_MIN_GROUP_N: 'fewest cases for a group of a model evaluation to be judged (default 30)',
  BIAS_MIN_KAPPA: 'a group\'s annotator agreement (kappa) below this over its last BIAS_KAPPA_WINDOW reviews is a finding (default 0.6)',
  BIAS_KAPPA_WINDOW: 'how many of a group\'s latest reviews its agreement is judged over (default 50)',
  BIAS_MAX_CONSENT_LOSS: 'a model whose snapshots lost more than this share of their patients\' AI_TRAINING consent is a finding (default 0.1)',
  BIAS_ETHNICITY_GROUPS: 'comma-separated ethnicity groups balance reports count, lower case (default asian,black,hispanic,white,other,unknown; any other value counts as other)',
  RECEIPT_KEY_FILE: 'file of the consent-receipt signing key (default DATA_DIR/keys/receipts.jwk.json in embedded mode; share one file between gateways)',
} as const;

function int(env: Env, name: keyof typeof CONFIG_VARIABLES, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(name, `must be an integer (got ${JSON.stringify(raw)})`);
  const value = Number(raw.trim());
  if (value < min || value > max) throw new ConfigError(name, `must be between ${min} and ${max} (got ${value})`);
  return value;
}

function oneOf<T extends string>(env: Env, name: keyof typeof CONFIG_VARIABLES, allowed: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(name, `must be one of ${allowed.join(', ')} (got ${JSON.stringify(raw)})`);
  }
  return raw as T;
}

function text(env: Env, name: keyof typeof CONFIG_VARIABLES, fallback: string, pattern: RegExp): string {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!pattern.test(raw)) throw new ConfigError(name, `is malformed (got ${JSON.stringify(raw)})`);
  return raw;
}

/** SASL and TLS to the brokers: a mechanism needs a username and a password, each named when missing. */
function kafkaSecurity(env: Env): Pick<KafkaConfig, 'sasl' | 'ssl'> {
  const mechanism = env.KAFKA_SASL_MECHANISM?.trim().toLowerCase();
  let sasl: KafkaConfig['sasl'];
  if (mechanism) {
    if (mechanism !== 'plain' && mechanism !== 'scram-sha-256' && mechanism !== 'scram-sha-512') {
      throw new ConfigError('KAFKA_SASL_MECHANISM', `must be scram-sha-512, scram-sha-256 or plain (got ${JSON.stringify(env.KAFKA_SASL_MECHANISM)})`);
    }
    const username = env.KAFKA_SASL_USERNAME ?? '';
    const password = env.KAFKA_SASL_PASSWORD ?? '';
    if (!username) throw new ConfigError('KAFKA_SASL_USERNAME', 'is required with KAFKA_SASL_MECHANISM');
    if (!password) throw new ConfigError('KAFKA_SASL_PASSWORD', 'is required with KAFKA_SASL_MECHANISM');
    sasl = { mechanism, username, password };
  } else if (env.KAFKA_SASL_USERNAME || env.KAFKA_SASL_PASSWORD) {
    throw new ConfigError('KAFKA_SASL_MECHANISM', 'is required with KAFKA_SASL_USERNAME/KAFKA_SASL_PASSWORD');
  }
  const tls = (env.KAFKA_SSL ?? '').trim().toLowerCase();
  if (tls !== '' && tls !== 'true' && tls !== 'false') throw new ConfigError('KAFKA_SSL', `must be true or false (got ${JSON.stringify(env.KAFKA_SSL)})`);
  const caFile = env.KAFKA_SSL_CA_FILE?.trim();
  if (caFile && tls !== 'true') throw new ConfigError('KAFKA_SSL_CA_FILE', 'needs KAFKA_SSL=true');
  return { ...(sasl ? { sasl } : {}), ...(tls === 'true' ? { ssl: caFile ? { caFile } : {} } : {}) };
}

export interface LoadOptions {
  /** Whether distributed mode must name Kafka brokers (the CLI does not use Kafka). Default true. */
  requireKafka?: boolean;
}

export function loadConfig(env: Env, cwd: string = process.cwd(), options: LoadOptions = {}): CustosConfig {
  const databaseUrl = env.DATABASE_URL?.trim() || undefined;
  const mode = oneOf(env, 'CUSTOS_MODE', ['embedded', 'distributed'] as const, databaseUrl ? 'distributed' : 'embedded');

  let database: DatabaseConfig;
  if (mode === 'distributed') {
    if (!databaseUrl) throw new ConfigError('DATABASE_URL', 'is required in distributed mode');
    let parsed: URL;
    try {
      parsed = new URL(databaseUrl);
    } catch {
      throw new ConfigError('DATABASE_URL', 'is not a URL (expected postgres://user@host:port/db)');
    }
    if (!['postgres:', 'postgresql:'].includes(parsed.protocol)) {
      throw new ConfigError('DATABASE_URL', `must use postgres:// (got ${parsed.protocol})`);
    }
    database = { kind: 'postgres', url: databaseUrl, poolSize: int(env, 'DATABASE_POOL_SIZE', 10, 1, 200) };
  } else {
    const dir = text(env, 'DATA_DIR', './data', /^[^\0]+$/);
    database = { kind: 'pglite', dataDir: dir.startsWith('memory://') ? dir : resolve(cwd, dir) };
  }

  let kafka: KafkaConfig | null = null;
  const brokersRaw = env.KAFKA_BROKERS?.trim();
  if (brokersRaw) {
    const brokers = brokersRaw.split(',').map((b) => b.trim()).filter(Boolean);
    for (const b of brokers) {
      if (!/^[A-Za-z0-9.\-[\]:]+:\d{1,5}$/.test(b)) {
        throw new ConfigError('KAFKA_BROKERS', `has a malformed entry ${JSON.stringify(b)} (expected host:port)`);
      }
    }
    kafka = {
      brokers,
      clientId: text(env, 'KAFKA_CLIENT_ID', 'custos', /^[A-Za-z0-9._-]{1,100}$/),
      topicPartitions: int(env, 'KAFKA_TOPIC_PARTITIONS', 6, 1, 1000),
      topicPrefix: text(env, 'KAFKA_TOPIC_PREFIX', '', /^[A-Za-z0-9._-]{0,100}$/),
      ...kafkaSecurity(env),
    };
  } else if (mode === 'distributed' && options.requireKafka !== false) {
    throw new ConfigError('KAFKA_BROKERS', 'is required in distributed mode');
  }
  const http = {
    host: text(env, 'HOST', '127.0.0.1', /^[A-Za-z0-9.:-]+$/),
    port: int(env, 'PORT', 3000, 0, 65535),
  };

  return {
    mode,
    http,
    database,
    kafka,
    logLevel: oneOf(env, 'LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, 'info'),
    relay: {
      batchSize: int(env, 'RELAY_BATCH_SIZE', 500, 1, 5000),
      pollIntervalMs: int(env, 'RELAY_POLL_MS', 50, 1, 60000),
    },
    projector: { groupId: text(env, 'PROJECTOR_GROUP_ID', 'custos-projector', /^[A-Za-z0-9._-]{1,200}$/) },
    auth: authConfig(env, mode, database, http.host),
    consent: consentConfig(env, database),
    keys: { kek: kekConfig(env, mode, database) },
    log: logConfig(env),
    sentinel: {
      pollMs: int(env, 'SENTINEL_POLL_MS', 500, 10, 600_000),
      groupId: text(env, 'SENTINEL_GROUP_ID', 'custos-sentinel', /^[A-Za-z0-9._-]{1,200}$/),
      rules: sentinelRules(env.SENTINEL_RULES),
    },
    dicomweb: dicomwebConfig(env),
    auditIngest: auditIngestConfig(env),
    fairness: fairnessConfig(env),
  };
}

function epsilon(env: Env, name: keyof typeof CONFIG_VARIABLES, fallback: string): number {
  const raw = env[name]?.trim() || fallback;
  const micros = epsilonMicrosOf(raw);
  if (micros === null) throw new ConfigError(name, 'must be a positive decimal with at most six places (e.g. 0.5)');
  return micros;
}

function ratio(env: Env, name: keyof typeof CONFIG_VARIABLES, fallback: number): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  const v = Number(raw);
  if (!/^\d*\.?\d+$/.test(raw) || !Number.isFinite(v) || v < 0 || v > 1) throw new ConfigError(name, 'must be a number from 0 to 1');
  return v;
}

function fairnessConfig(env: Env): FairnessConfig {
  const min = epsilon(env, 'DP_EPSILON_MIN_PER_RELEASE', '0.01');
  if (min < 4) throw new ConfigError('DP_EPSILON_MIN_PER_RELEASE', 'must be at least 0.000004 (each of a release\'s three parts needs some)');
  if (min > epsilon(env, 'DP_EPSILON_MAX_PER_RELEASE', '1.0')) throw new ConfigError('DP_EPSILON_MIN_PER_RELEASE', 'must not exceed DP_EPSILON_MAX_PER_RELEASE');
  const groups = (env.BIAS_ETHNICITY_GROUPS ?? 'asian,black,hispanic,white,other,unknown').split(',').map((g) => g.trim()).filter(Boolean);
  for (const g of groups) if (!/^[a-z0-9][a-z0-9 _-]{0,39}$/.test(g)) throw new ConfigError('BIAS_ETHNICITY_GROUPS', `names ${JSON.stringify(g)}: groups are lower-case words`);
  for (const must of ['other', 'unknown']) if (!groups.includes(must)) groups.push(must);
  return {
    epsilonPerRequester: epsilon(env, 'DP_EPSILON_PER_REQUESTER', '1.0'),
    epsilonPerDataset: epsilon(env, 'DP_EPSILON_PER_DATASET', '4.0'),
    epsilonMaxPerRelease: epsilon(env, 'DP_EPSILON_MAX_PER_RELEASE', '1.0'),
    epsilonMinPerRelease: epsilon(env, 'DP_EPSILON_MIN_PER_RELEASE', '0.01'),
    clipImages: int(env, 'DP_CLIP_IMAGES', 20, 1, 10_000),
    clipAnnotations: int(env, 'DP_CLIP_ANNOTATIONS', 20, 1, 10_000),
    minRepresentation: ratio(env, 'BIAS_MIN_REPRESENTATION', 0.8),
    maxGap: ratio(env, 'BIAS_MAX_GAP', 0.05),
    minGroupSize: int(env, 'BIAS_MIN_GROUP_N', 30, 1, 1_000_000),
    minKappa: ratio(env, 'BIAS_MIN_KAPPA', 0.6),
    kappaWindow: int(env, 'BIAS_KAPPA_WINDOW', 50, 2, 100_000),
    maxConsentLoss: ratio(env, 'BIAS_MAX_CONSENT_LOSS', 0.1),
    ethnicityGroups: [...new Set(groups)],
  };
}

function auditIngestConfig(env: Env): AuditIngestConfig {
  const items = (name: keyof typeof CONFIG_VARIABLES) => (env[name] ?? '').split(',').map((v) => v.trim()).filter(Boolean);
  const systems = items('AUDIT_INGEST_PATIENT_SYSTEMS');
  for (const s of systems) if (!/^[A-Za-z][A-Za-z0-9+.-]*:[^\s|]{1,4000}$/.test(s)) throw new ConfigError('AUDIT_INGEST_PATIENT_SYSTEMS', `names ${JSON.stringify(s)}, not an identifier system (a URI)`);
  const bases = items('AUDIT_INGEST_FHIR_BASE').map((b) => {
    let url: URL;
    try {
      url = new URL(b);
    } catch {
      throw new ConfigError('AUDIT_INGEST_FHIR_BASE', `names ${JSON.stringify(b)}, not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError('AUDIT_INGEST_FHIR_BASE', `must be http(s) (got ${url.protocol})`);
    if (url.username || url.password || url.search || url.hash) throw new ConfigError('AUDIT_INGEST_FHIR_BASE', 'must be a base URL without credentials, query or fragment');
    return `${url.origin}${url.pathname}`.replace(/\/+$/, '');
  });
  return { patientSystems: systems.length > 0 ? systems : [CUSTOS_PATIENT_ID_SYSTEM], fhirBases: bases };
}

function httpUrl(env: Env, name: keyof typeof CONFIG_VARIABLES): string | null {
  const raw = env[name]?.trim();
  if (!raw) return null;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(name, 'is not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(name, `must be http(s) (got ${url.protocol})`);
  if (url.username || url.password) throw new ConfigError(name, 'must not carry credentials: give them in DICOMWEB_UPSTREAM_CREDENTIALS_FILE');
  return raw.replace(/\/+$/, '');
}

function dicomwebConfig(env: Env): DicomwebConfig | null {
  const upstream = httpUrl(env, 'DICOMWEB_UPSTREAM');
  if (!upstream) return null;
  const purposes = (env.DICOMWEB_DEIDENTIFY_PURPOSES ?? 'RESEARCH,AI_TRAINING').split(',').map((p) => p.trim()).filter(Boolean);
  for (const p of purposes) if (!/^[A-Z_]{1,40}$/.test(p)) throw new ConfigError('DICOMWEB_DEIDENTIFY_PURPOSES', `names ${JSON.stringify(p)}, not a purpose`);
  return {
    upstream,
    credentialsFile: env.DICOMWEB_UPSTREAM_CREDENTIALS_FILE?.trim() || null,
    orthancUrl: httpUrl(env, 'ORTHANC_URL') ?? upstream.replace(/\/[^/]*$/, ''),
    maxStowBytes: int(env, 'DICOMWEB_MAX_STOW_BYTES', 256 * 1024 * 1024, 1024, 8 * 1024 * 1024 * 1024),
    deidentifyPurposes: purposes,
    defaultDataset: text(env, 'DICOMWEB_DEFAULT_DATASET', 'pacs', /^[A-Za-z0-9._-]{1,100}$/),
    localIssuer: env.DICOMWEB_LOCAL_ISSUER?.trim() || null,
    feedPollMs: int(env, 'DICOMWEB_FEED_POLL_MS', 1000, 0, 3_600_000),
    timeoutMs: int(env, 'DICOMWEB_TIMEOUT_MS', 30_000, 100, 600_000),
  };
}

function sentinelRules(raw: string | undefined): Record<string, unknown> {
  if (raw === undefined || raw.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ConfigError('SENTINEL_RULES', 'is not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ConfigError('SENTINEL_RULES', 'must be a JSON object of rule parameters');
  return parsed as Record<string, unknown>;
}

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost|::1|\[::1\])$/;

function authConfig(env: Env, mode: CustosConfig['mode'], database: DatabaseConfig, host: string): AuthConfig {
  const jwksUrl = env.AUTH_JWKS_URL?.trim() || undefined;
  // The dev issuer mints any role for anyone: on by default only where nobody else can reach
  // it and no real identity provider is configured; anything else needs AUTH_DEV_ISSUER=true.
  const safeByDefault = mode === 'embedded' && LOOPBACK.test(host) && !jwksUrl && !env.AUTH_JWKS_FILE;
  const devIssuer = oneOf(env, 'AUTH_DEV_ISSUER', ['true', 'false'] as const, safeByDefault ? 'true' : 'false') === 'true';
  if (jwksUrl) {
    try {
      const u = new URL(jwksUrl);
      if (!['https:', 'http:'].includes(u.protocol)) throw new Error();
    } catch {
      throw new ConfigError('AUTH_JWKS_URL', 'must be an http(s) URL');
    }
  }
  const algorithms = text(env, 'AUTH_ALGORITHMS', 'ES256,RS256,PS256', /^[A-Z0-9,]+$/).split(',').filter(Boolean);
  const allowed = ['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
  for (const a of algorithms) if (!allowed.includes(a)) throw new ConfigError('AUTH_ALGORITHMS', `names ${a}; only asymmetric algorithms are accepted (${allowed.join(', ')})`);
  return {
    issuer: text(env, 'AUTH_ISSUER', 'custos-dev', /^\S{1,300}$/),
    audience: text(env, 'AUTH_AUDIENCE', 'custos', /^\S{1,300}$/),
    ...(jwksUrl ? { jwksUrl } : {}),
    ...(env.AUTH_JWKS_FILE ? { jwksFile: env.AUTH_JWKS_FILE } : {}),
    devIssuer,
    ...(devIssuer && database.kind === 'pglite' && !database.dataDir.startsWith('memory://') ? { devKeyFile: `${database.dataDir}/keys/dev-issuer.jwk.json` } : {}),
    devIssuerName: 'urn:custos:dev-issuer',
    tokenCacheBytes: int(env, 'AUTH_TOKEN_CACHE_BYTES', 32 * 1024 * 1024, 0, 4 * 1024 * 1024 * 1024),
    clockSkewSeconds: int(env, 'AUTH_CLOCK_SKEW_SECONDS', 30, 0, 300),
    algorithms,
  };
}

/**
 * The KEK: KEK_FILE or KEK wherever given; else embedded mode keeps a generated one in its
 * data folder (or in memory for a memory:// store); distributed mode has none, and every
 * process that needs keys refuses to start.
 */
function kekConfig(env: Env, mode: CustosConfig['mode'], database: DatabaseConfig): KekConfig {
  const file = env.KEK_FILE?.trim();
  const inline = env.KEK?.trim();
  if (file && inline) throw new ConfigError('KEK', 'and KEK_FILE are both set: give one');
  if (file) return { kind: 'file', path: file };
  if (inline) {
    if (!/^[A-Za-z0-9_-]{43}$/.test(inline)) throw new ConfigError('KEK', 'must be 32 bytes in base64url (43 characters of A-Z a-z 0-9 - _)');
    return { kind: 'inline', base64url: inline };
  }
  if (mode === 'embedded' && database.kind === 'pglite') {
    return database.dataDir.startsWith('memory://') ? { kind: 'memory' } : { kind: 'generated', path: `${database.dataDir}/keys/kek.jwk.json` };
  }
  return { kind: 'none' };
}

function logConfig(env: Env): CustosConfig['log'] {
  const integrateMs = int(env, 'LOG_INTEGRATE_MS', 200, 10, 60_000);
  const checkpointMs = int(env, 'LOG_CHECKPOINT_MS', 1000, 0, 86_400_000);
  // Five minutes, or two checkpoint intervals when checkpoints are rarer than that.
  const witnessMaxLagMs = int(env, 'WITNESS_MAX_LAG_MS', Math.max(300_000, 2 * (checkpointMs + integrateMs)), 100, 7 * 86_400_000);
  // A witness cannot cosign faster than checkpoints are made: a shorter bound would alarm on a healthy log.
  if (witnessMaxLagMs <= checkpointMs + integrateMs) throw new ConfigError('WITNESS_MAX_LAG_MS', `must be more than LOG_CHECKPOINT_MS + LOG_INTEGRATE_MS (${checkpointMs + integrateMs} ms)`);
  return { origin: text(env, 'LOG_ORIGIN', 'custos.local/log', /^[\x21-\x7e]{1,200}$/), integrateMs, checkpointMs, witnessUrls: witnessUrls(env.WITNESS_URLS), witnessMaxLagMs };
}

function witnessUrls(raw: string | undefined): string[] {
  const urls = (raw ?? '').split(',').map((u) => u.trim()).filter(Boolean);
  for (const u of urls) {
    try {
      if (!['http:', 'https:'].includes(new URL(u).protocol)) throw new Error();
    } catch {
      throw new ConfigError('WITNESS_URLS', `has an entry that is not an http(s) URL (${JSON.stringify(u.slice(0, 100))})`);
    }
  }
  return urls;
}

function consentConfig(env: Env, database: DatabaseConfig): ConsentConfig {
  const purposes = ['TREATMENT', 'RESEARCH', 'AI_TRAINING', 'OPERATIONS', 'PUBLIC_HEALTH'];
  const list = (name: 'CONSENT_DEFAULT_GRANTED' | 'CONSENT_RESTRICTABLE_PURPOSES', fallback: string) => {
    const values = (env[name] ?? fallback).split(',').map((p) => p.trim()).filter(Boolean);
    for (const p of values) if (!purposes.includes(p)) throw new ConfigError(name, `names unknown purpose ${p} (known: ${purposes.join(', ')})`);
    return [...new Set(values)];
  };
  const defaultGranted = list('CONSENT_DEFAULT_GRANTED', 'TREATMENT,OPERATIONS');
  const restrictable = list('CONSENT_RESTRICTABLE_PURPOSES', purposes.join(','));
  const receiptKeyFile = env.RECEIPT_KEY_FILE || (database.kind === 'pglite' && !database.dataDir.startsWith('memory://') ? `${database.dataDir}/keys/receipts.jwk.json` : undefined);
  return { defaultGranted, restrictable, ...(receiptKeyFile ? { receiptKeyFile } : {}) };
}
