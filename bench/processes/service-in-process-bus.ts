import { startTracing, createLogger } from '@platform/telemetry';
startTracing(process.argv[2] ?? 'service');

import { exitOnSignals } from '@platform/http';
import { InProcessBus } from '@platform/events';
import { startService } from '@platform/service';
import * as metering from '@platform/service-metering';
import * as wallets from '@platform/service-wallets';

/**
 * D': metering or wallets as its own process, exactly as its src/main.ts starts it, except that
 * the outbox relay publishes to an in-process bus (standalone mode's) instead of Kafka. Nothing
 * else listens on that bus: the comparison isolates what Kafka costs the hot path.
 */
const SERVICES = { metering, wallets } as const;

async function main() {
  const name = process.argv[2] as keyof typeof SERVICES;
  const pkg = SERVICES[name];
  if (!pkg) throw new Error(`usage: service-in-process-bus.ts ${Object.keys(SERVICES).join('|')}`);
  const def = 'meteringService' in pkg ? pkg.meteringService : pkg.walletsService;
  const config = pkg.readConfig();
  const logger = createLogger(name, config.LOG_LEVEL);
  const bus = new InProcessBus({ onError: (msg, err) => logger.warn({ err: String(err) }, msg) });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const running = await startService(def as any, config, { logger, inProcessBus: bus });
  exitOnSignals(async () => {
    await running.stop();
    await bus.close();
  }, logger);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
