import path from 'node:path';
import type { ServiceDefinition } from '@platform/service';
import { createDb, Db } from './db/client';
import { servicePricesRepository } from './db/service-prices.repository';
import { usageRepository } from './db/usage.repository';
import { walletsClient } from './clients/wallets.client';
import { createMetering } from './domain/metering.service';
import { refundSweeper } from './domain/refund-sweeper';
import { meteringPublishers } from './events/publishers';
import { serviceCatalogueConsumer } from './events/consumers/service-catalogue.consumer';
import { createForwarder } from './upstream/forwarder';
import { proxyRouter, PROXY_PREFIX } from './http/proxy.router';
import { usageRouter } from './http/usage.router';
import type { Config } from './config';

export const meteringService: ServiceDefinition<Db, Config> = {
  name: 'metering',
  migrationsDir: path.join(__dirname, '..', 'prisma', 'migrations'),
  createDb,
  build(ctx) {
    const { config } = ctx;
    const prices = servicePricesRepository(ctx.db);
    const metering = createMetering({
      prices,
      usage: usageRepository(ctx.db),
      wallets: walletsClient({ baseUrl: config.WALLETS_URL, secret: config.INTERNAL_TOKEN_SECRET, timeoutMs: config.WALLETS_TIMEOUT_MS }),
      events: meteringPublishers(ctx.outbox),
      logger: ctx.logger,
      // Longer than any live call can stay pending: the debit, the provider's first byte, and slack.
      staleAfterMs: config.WALLETS_TIMEOUT_MS + config.UPSTREAM_TIMEOUT_MS + 60_000,
    });
    const forwarder = createForwarder({ allowHosts: config.OUTBOUND_ALLOW_HOSTS, timeoutMs: config.UPSTREAM_TIMEOUT_MS });
    const sweeper = refundSweeper(metering, { everyMs: config.REFUND_SWEEP_MS, logger: ctx.logger });
    return {
      rawPaths: [PROXY_PREFIX],
      mount(app) {
        app.use(proxyRouter({ metering, forwarder, upstreamTimeoutMs: config.UPSTREAM_TIMEOUT_MS }));
        app.use(usageRouter({ metering }));
      },
      consumers: [serviceCatalogueConsumer(prices)],
      async onStart() {
        sweeper.start();
      },
      async onStop() {
        await sweeper.stop();
        forwarder.close();
      },
    };
  },
};
