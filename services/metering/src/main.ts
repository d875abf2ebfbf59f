import { startTracing, createLogger } from '@platform/telemetry';
startTracing('metering');

import { exitOnSignals } from '@platform/http';
import { startService } from '@platform/service';
import { meteringService } from './app';
import { readConfig } from './config';

async function main() {
  const config = readConfig();
  const logger = createLogger('metering', config.LOG_LEVEL);
  const running = await startService(meteringService, config, { logger });
  exitOnSignals(() => running.stop(), logger);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
