import { startTracing, createLogger } from '@platform/telemetry';
startTracing('runtime');

import { exitOnSignals } from '@platform/http';
import { startService } from '@platform/service';
import { runtimeService } from './app';
import { readConfig } from './config';

async function main() {
  const config = readConfig();
  const logger = createLogger('runtime', config.LOG_LEVEL);
  const running = await startService(runtimeService, config, { logger });
  exitOnSignals(() => running.stop(), logger);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
