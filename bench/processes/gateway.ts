import { startTracing, createLogger } from '@platform/telemetry';
startTracing('gateway');

import { exitOnSignals } from '@platform/http';
import type { RouteEntry } from '@platform/gateway';

/**
 * BENCH_GATEWAY_SRC: the src folder of another copy of the gateway (say the previous version, with
 * a node_modules link to gateway/node_modules beside it) measured in place of this checkout's.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { startGateway, readConfig, ROUTES }: typeof import('@platform/gateway') = require(process.env.BENCH_GATEWAY_SRC || '@platform/gateway');

/**
 * The real gateway exactly as gateway/src/main.ts starts it, plus two routes for the auth-cost
 * row: both end at the bench upstream (configured as the `webhooks` service, which no measured
 * path uses otherwise), one needing no credential and one requiring it. The difference between
 * them is the gateway's credential work on a warm cache: parsing, the sha256 cache lookup, the
 * per-key Redis token bucket and the signed principal header.
 */
const BENCH_ROUTES: RouteEntry[] = [
  { pattern: '/bench/open/*', service: 'webhooks', family: 'detail', auth: 'optional' },
  { pattern: '/bench/auth/*', service: 'webhooks', family: 'detail', auth: 'required' },
  // G2: through the bare proxy (configured as the `runtime` service) to the upstream: D's two hops, metering's doing nothing.
  { pattern: '/bench/chain/*', service: 'runtime', family: 'detail', auth: 'optional' },
];

async function main() {
  const config = readConfig();
  const logger = createLogger('gateway', config.LOG_LEVEL);
  const running = await startGateway(config, { logger, routes: [...ROUTES, ...BENCH_ROUTES] });
  exitOnSignals(() => running.stop(), logger);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
