import path from 'node:path';
import { Pool } from 'pg';
import { Redis } from 'ioredis';
import type { ServiceDefinition } from '@platform/service';
import { createDb, Db } from './db/client';
import { servicePricesRepository } from './db/service-prices.repository';
import { usageRepository } from './db/usage.repository';
import { usageWriter } from './db/usage-writer';
import { walletsClient } from './clients/wallets.client';
import { walletsSignerClient } from './clients/signer.client';
import { usdcAuthorizations } from './clients/usdc.client';
import { x402PaymentsRepository } from './db/x402-payments.repository';
import { createUpstreamPayments } from './domain/upstream-payment';
import { externalFetchRouter, EXTERNAL_PREFIX } from './http/external-fetch.router';
import { servicesRouter, SERVICES_PREFIX } from './http/services.router';
import { createMetering } from './domain/metering.service';
import { refundSweeper } from './domain/refund-sweeper';
import { leaseBook } from './domain/leases';
import { x402BookingReleaser } from './domain/x402-release';
import { meteringPublishers } from './events/publishers';
import { serviceCatalogueConsumer } from './events/consumers/service-catalogue.consumer';
import { createForwarder } from './upstream/forwarder';
import { proxyRouter, PROXY_PREFIX } from './http/proxy.router';
import { usageRouter } from './http/usage.router';
import { agentPayRouter } from './http/agent-pay.router';
import type { Config } from './config';

export const meteringService: ServiceDefinition<Db, Config> = {
  name: 'metering',
  migrationsDir: path.join(__dirname, '..', 'prisma', 'migrations'),
  createDb,
  build(ctx) {
    const { config } = ctx;
    const prices = servicePricesRepository(ctx.db);
    const wallets = walletsClient({ baseUrl: config.WALLETS_URL, secret: config.INTERNAL_TOKEN_SECRET, timeoutMs: config.WALLETS_TIMEOUT_MS, batchDebits: config.DEBIT_BATCHING, debitBatchesInFlight: config.DEBIT_BATCH_IN_FLIGHT });
    const x402Payments = x402PaymentsRepository(ctx.db);
    const authorizations = config.CHAIN_RPC_URL ? usdcAuthorizations({ rpcUrl: config.CHAIN_RPC_URL, usdcAddress: config.USDC_ADDRESS, chainId: config.CHAIN_ID }) : undefined;
    const writer = config.USAGE_BATCHING
      ? usageWriter(ctx.db, ctx.outbox, config.USAGE_WRITER_POOL > 0 ? { pool: new Pool({ connectionString: config.DATABASE_URL, max: config.USAGE_WRITER_POOL, connectionTimeoutMillis: 5_000 }) } : {})
      : undefined;
    const redis = config.BALANCE_LEASES && config.REDIS_URL && writer?.pool ? new Redis(config.REDIS_URL, { maxRetriesPerRequest: 1, commandTimeout: 500, connectTimeout: 2_000, enableAutoPipelining: true }) : undefined;
    redis?.on('error', (err) => ctx.logger.debug({ err: String(err) }, 'redis'));
    const leases =
      redis && writer?.pool
        ? leaseBook({ redis, pool: writer.pool, wallets, logger: ctx.logger, settings: { calls: config.LEASE_CALLS, ttlMs: config.LEASE_TTL_MS, staleAfterMs: config.PENDING_STALE_MS, prefix: config.LEASE_KEY_PREFIX } })
        : undefined;
    const metering = createMetering({
      prices,
      usage: usageRepository(ctx.db),
      wallets,
      events: meteringPublishers(ctx.outbox),
      writer,
      priceCacheMs: config.PRICE_CACHE_MS,
      logger: ctx.logger,
      // Longer than any live call can stay pending: the debit, the provider's first byte, and slack.
      staleAfterMs: config.PENDING_STALE_MS,
      payments: x402Payments,
      authorizations,
      leases,
    });
    // Signing may top the agent's wallet up on chain first (wallets' auto top-up): give it time.
    const signer = walletsSignerClient({ baseUrl: config.WALLETS_URL, secret: config.INTERNAL_TOKEN_SECRET, timeoutMs: Math.max(config.WALLETS_TIMEOUT_MS, 15_000) });
    const payments = createUpstreamPayments({
      store: x402Payments,
      signer,
      settings: { network: config.X402_NETWORK, chainId: config.CHAIN_ID, asset: config.USDC_ADDRESS },
      authorizations,
    });
    const forwarder = createForwarder({ allowHosts: config.OUTBOUND_ALLOW_HOSTS, timeoutMs: config.UPSTREAM_TIMEOUT_MS });
    const sweeper = refundSweeper(metering, {
      everyMs: config.REFUND_SWEEP_MS,
      logger: ctx.logger,
      also: x402BookingReleaser({ payments: x402Payments, signer, logger: ctx.logger, graceSeconds: config.X402_RELEASE_GRACE_S }),
    });
    const buffered = { metering, wallets, forwarder, payments, upstreamTimeoutMs: config.UPSTREAM_TIMEOUT_MS, maxResponseBytes: config.EXTERNAL_FETCH_MAX_BYTES };
    return {
      // Bodies streamed (proxy) or parsed by the route itself, so a malformed one gets its family's error shape.
      rawPaths: [PROXY_PREFIX, EXTERNAL_PREFIX, SERVICES_PREFIX],
      mount(app) {
        app.use(proxyRouter({ metering, forwarder, upstreamTimeoutMs: config.UPSTREAM_TIMEOUT_MS, wallets, payments }));
        app.use(externalFetchRouter(buffered));
        app.use(servicesRouter(buffered));
        app.use(usageRouter({ metering }));
        app.use(agentPayRouter({ publicBaseUrl: config.PUBLIC_BASE_URL, chainId: config.CHAIN_ID, network: config.X402_NETWORK, usdcAddress: config.USDC_ADDRESS }));
      },
      consumers: [serviceCatalogueConsumer(prices, (id) => metering.forgetPrice(id))],
      async onStart() {
        sweeper.start();
      },
      async onStop() {
        await sweeper.stop();
        forwarder.close();
        await writer?.close();
        redis?.disconnect();
        authorizations?.close();
      },
    };
  },
};
