import { startTracing, createLogger } from '@platform/telemetry';
startTracing('settlements');

import { exitOnSignals } from '@platform/http';
import { startService } from '@platform/service';
import { settlementsService } from './app';
import { readConfig } from './config';

async function main() {
  const config = readConfig();
  const logger = createLogger('settlements', config.LOG_LEVEL);
  const running = await startService(settlementsService, config, { logger });
  exitOnSignals(() => running.stop(), logger);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
