import { ConfigError, loadConfig } from './config.js';

describe('loadConfig', () => {
  it('defaults to embedded mode on PGlite in ./data with no Kafka', () => {
    const config = loadConfig({}, '/srv/custos');
    expect(config).toMatchObject({ mode: 'embedded', http: { host: '127.0.0.1', port: 3000 }, database: { kind: 'pglite', dataDir: '/srv/custos/data' }, kafka: null, logLevel: 'info' });
  });

  it('switches to distributed mode when DATABASE_URL is set, and then needs KAFKA_BROKERS', () => {
    expect(() => loadConfig({ DATABASE_URL: 'postgres://u@h:5432/d' })).toThrow(new ConfigError('KAFKA_BROKERS', 'is required in distributed mode'));
    const config = loadConfig({ DATABASE_URL: 'postgres://u@h:5432/d', KAFKA_BROKERS: 'a:9092, b:9093', KAFKA_TOPIC_PREFIX: 'x.' });
    expect(config).toMatchObject({ mode: 'distributed', database: { kind: 'postgres', url: 'postgres://u@h:5432/d', poolSize: 10 }, kafka: { brokers: ['a:9092', 'b:9093'], topicPrefix: 'x.' } });
  });

  it('reads the Kafka principal (SASL) and TLS each process authenticates with', () => {
    const config = loadConfig({ DATABASE_URL: 'postgres://u@h:5432/d', KAFKA_BROKERS: 'a:9092', KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512', KAFKA_SASL_USERNAME: 'custos-relay', KAFKA_SASL_PASSWORD: 's3cret', KAFKA_SSL: 'true', KAFKA_SSL_CA_FILE: '/etc/ca.pem' });
    expect(config.kafka).toMatchObject({ sasl: { mechanism: 'scram-sha-512', username: 'custos-relay', password: 's3cret' }, ssl: { caFile: '/etc/ca.pem' } });
    expect(loadConfig({ DATABASE_URL: 'postgres://u@h:5432/d', KAFKA_BROKERS: 'a:9092' }).kafka).not.toHaveProperty('sasl');
  });

  it('waits five minutes for a witness by default, and takes a shorter bound with faster checkpoints', () => {
    expect(loadConfig({}).log.witnessMaxLagMs).toBe(300_000);
    expect(loadConfig({ WITNESS_MAX_LAG_MS: '400', LOG_CHECKPOINT_MS: '50', LOG_INTEGRATE_MS: '20' }).log.witnessMaxLagMs).toBe(400);
    // Rare checkpoints without a bound given: the default grows with them instead of refusing to start.
    expect(loadConfig({ LOG_CHECKPOINT_MS: '600000' }).log.witnessMaxLagMs).toBe(1_200_400);
  });

  it.each([
    [{ PORT: 'abc' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ CUSTOS_MODE: 'cluster' }, 'CUSTOS_MODE'],
    [{ CUSTOS_MODE: 'distributed' }, 'DATABASE_URL'],
    [{ DATABASE_URL: 'mysql://x/y', KAFKA_BROKERS: 'a:1' }, 'DATABASE_URL'],
    [{ DATABASE_URL: 'not a url', KAFKA_BROKERS: 'a:1' }, 'DATABASE_URL'],
    [{ KAFKA_BROKERS: 'no-port' }, 'KAFKA_BROKERS'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ RELAY_BATCH_SIZE: '0' }, 'RELAY_BATCH_SIZE'],
    [{ KAFKA_BROKERS: 'a:1', KAFKA_SASL_MECHANISM: 'gssapi', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' }, 'KAFKA_SASL_MECHANISM'],
    [{ KAFKA_BROKERS: 'a:1', KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_PASSWORD: 'p' }, 'KAFKA_SASL_USERNAME'],
    [{ KAFKA_BROKERS: 'a:1', KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'u' }, 'KAFKA_SASL_PASSWORD'],
    [{ KAFKA_BROKERS: 'a:1', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' }, 'KAFKA_SASL_MECHANISM'],
    [{ KAFKA_BROKERS: 'a:1', KAFKA_SSL: 'yes' }, 'KAFKA_SSL'],
    [{ KAFKA_BROKERS: 'a:1', KAFKA_SSL_CA_FILE: '/ca.pem' }, 'KAFKA_SSL_CA_FILE'],
    [{ WITNESS_MAX_LAG_MS: 'soon' }, 'WITNESS_MAX_LAG_MS'],
    [{ WITNESS_MAX_LAG_MS: '1000' }, 'WITNESS_MAX_LAG_MS'], // not more than a checkpoint interval plus integration: a healthy log would alarm
    [{ WITNESS_MAX_LAG_MS: '1000000000000' }, 'WITNESS_MAX_LAG_MS'],
    [{ AUDIT_INGEST_PATIENT_SYSTEMS: 'not a uri' }, 'AUDIT_INGEST_PATIENT_SYSTEMS'],
    [{ AUDIT_INGEST_FHIR_BASE: 'ehr.example/fhir' }, 'AUDIT_INGEST_FHIR_BASE'],
    [{ AUDIT_INGEST_FHIR_BASE: 'ftp://ehr.example/fhir' }, 'AUDIT_INGEST_FHIR_BASE'],
    [{ AUDIT_INGEST_FHIR_BASE: 'https://u:p@ehr.example/fhir' }, 'AUDIT_INGEST_FHIR_BASE'],
  ])('refuses %j with a message naming %s', (env, variable) => {
    try {
      loadConfig(env);
      throw new Error('accepted');
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).variable).toBe(variable);
      expect((e as Error).message).toContain(variable);
    }
  });

  it('reads what names a Custos patient in an ingested AuditEvent: by default Custos\' own identifier system and no absolute FHIR base', () => {
    expect(loadConfig({}).auditIngest).toEqual({ patientSystems: ['https://custos.dev/fhir/patient-id'], fhirBases: [] });
    expect(loadConfig({ AUDIT_INGEST_PATIENT_SYSTEMS: 'urn:oid:1.2.3, https://custos.dev/fhir/patient-id', AUDIT_INGEST_FHIR_BASE: 'https://EHR.example/fhir/, http://ehr.local:8080/r4' }).auditIngest).toEqual({
      patientSystems: ['urn:oid:1.2.3', 'https://custos.dev/fhir/patient-id'],
      fhirBases: ['https://ehr.example/fhir', 'http://ehr.local:8080/r4'],
    });
  });
});
