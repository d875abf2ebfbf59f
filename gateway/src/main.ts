import { startTracing, createLogger } from '@platform/telemetry';
startTracing('gateway');

import { exitOnSignals } from '@platform/http';
import { startGateway } from './app';
import { readConfig } from './config';

async function main() {
  const config = readConfig();
  const logger = createLogger('gateway', config.LOG_LEVEL);
  const running = await startGateway(config, { logger });
  exitOnSignals(() => running.stop(), logger);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
