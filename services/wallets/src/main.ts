import { startTracing, createLogger } from '@platform/telemetry';
startTracing('wallets');

import { exitOnSignals } from '@platform/http';
import { startService } from '@platform/service';
import { walletsService } from './app';
import { readConfig } from './config';

async function main() {
  const config = readConfig();
  const logger = createLogger('wallets', config.LOG_LEVEL);
  const running = await startService(walletsService, config, { logger });
  exitOnSignals(() => running.stop(), logger);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
