import 'reflect-metadata';
import { ConfigError, createLogger, CustosConfig, loadConfig } from '@custos/platform';
import { createGatewayApp } from './app.js';

async function main(): Promise<void> {
  let config: CustosConfig;
  try {
    config = loadConfig(process.env);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.message}\n`);
      process.exit(1);
    }
    throw e;
  }
  const logger = createLogger(config.logLevel, 'custos-gateway');
  const app = await createGatewayApp(config, logger);
  await app.listen(config.http.port, config.http.host);
  logger.info({ mode: config.mode, url: await app.getUrl(), store: config.database.kind }, 'custos gateway listening');
}

main().catch((e: unknown) => {
  process.stderr.write(`custos gateway failed to start: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
