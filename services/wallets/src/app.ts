import path from 'node:path';
import { Pool } from 'pg';
import type { ServiceDefinition } from '@platform/service';
import { createDb, Db } from './db/client';
import { ledgerRepository } from './db/ledger.repository';
import { balanceService } from './domain/balances.service';
import { creditService } from './domain/credits.service';
import { walletEvents } from './events/publishers';
import { agentOnboardedConsumer } from './events/consumers/agent-onboarded.consumer';
import { internalRouter } from './http/internal.router';
import { debitBatchRouter } from './http/debit-batch.router';
import { leasesRouter } from './http/leases.router';
import { leasesRepository } from './db/leases.repository';
import { leaseService } from './domain/leases.service';
import { devBalanceRouter } from './http/dev-balance.router';
import type { Config } from './config';
import { creditPurchasesRepository } from './db/credit-purchases.repository';
import { creditPurchaseService } from './domain/credit-purchases.service';
import { stripePayments } from './clients/stripe.client';
import { agentCreditsRouter, AGENT_CREDITS_PATH } from './http/agent-credits.router';
import { stripeWebhookRouter, STRIPE_WEBHOOK_PATH } from './http/stripe-webhook.router';
import { runtimeValidatedConsumer } from './events/consumers/runtime-validated.consumer';
import { runtimeIncidentConsumer } from './events/consumers/runtime-incident.consumer';
import { webhookDeliveredConsumer } from './events/consumers/webhook-delivered.consumer';
import { buildAgentWallets, SPEC001_PATHS } from './agent-wallets';
import { agentsRepository } from './db/agents.repository';

export const walletsService: ServiceDefinition<Db, Config> = {
  name: 'wallets',
  migrationsDir: path.join(__dirname, '..', 'prisma', 'migrations'),
  createDb,
  build(ctx) {
    const directPool =
      ctx.config.LEDGER_DIRECT_POOL > 0 ? new Pool({ connectionString: ctx.config.DATABASE_URL, max: ctx.config.LEDGER_DIRECT_POOL, connectionTimeoutMillis: 5_000 }) : undefined;
    const ledger = ledgerRepository(ctx.db, { maxConcurrentTx: ctx.config.LEDGER_TX_CONCURRENCY, maxQueuedTx: ctx.config.LEDGER_TX_QUEUE, pool: directPool });
    const events = walletEvents(ctx.outbox, ctx.name);
    // Agents are read only for a balance debit that names one (its policy spend).
    const leaseRows = leasesRepository(ctx.db);
    const balances = balanceService({ ledger, events, agents: agentsRepository(ctx.db), leases: leaseRows });
    // Balance leases: metering's slice of a buyer's balance, debited per call without waiting on a lock here.
    const leases = leaseService({ ledger, leases: leaseRows });
    const creditPurchases = creditPurchasesRepository(ctx.db);
    const credits = creditService({ ledger, events, recordShortfall: creditPurchases.recordShortfall });
    // Credits and Stripe (spec 000); without both Stripe secrets purchases answer 503.
    const c = ctx.config;
    const purchases = creditPurchaseService({
      purchases: creditPurchases,
      credits,
      ledger,
      payments:
        c.STRIPE_SECRET_KEY && c.STRIPE_WEBHOOK_SECRET
          ? stripePayments({ secretKey: c.STRIPE_SECRET_KEY, webhookSecret: c.STRIPE_WEBHOOK_SECRET, apiBase: c.STRIPE_API_BASE, timeoutMs: c.STRIPE_TIMEOUT_MS })
          : null,
      packs: c.CREDIT_PACKS,
      checkout: { successUrl: c.CREDITS_SUCCESS_URL, cancelUrl: c.CREDITS_CANCEL_URL, expiresMinutes: c.CREDITS_CHECKOUT_EXPIRES_MIN },
      logger: ctx.logger,
    });
    const pricing = { validate_call: c.CREDIT_COST_VALIDATE_CALL, incident_created: c.CREDIT_COST_INCIDENT_CREATED, webhook_sent: c.CREDIT_COST_WEBHOOK_SENT };
    const usage = { credits, pricing, logger: ctx.logger };
    // Spec 001 agent wallets, policies and payment sessions on the chain; 503 without chain config.
    const agentWallets = buildAgentWallets(ctx, ledger);
    return {
      mount(app) {
        app.use(internalRouter({ balances }));
        app.use(debitBatchRouter({ balances }));
        app.use(leasesRouter({ leases }));
        app.use(agentCreditsRouter({ credits, purchases, pricing }));
        app.use(stripeWebhookRouter({ purchases }));
        if (ctx.config.DEV_ROUTES) app.use(devBalanceRouter({ balances }));
        agentWallets.mount(app);
      },
      consumers: [agentOnboardedConsumer(credits), runtimeValidatedConsumer(usage), runtimeIncidentConsumer(usage), webhookDeliveredConsumer(usage), ...agentWallets.consumers],
      // Spec 001 paths parse their JSON after setting their error family ({"error": …}).
      rawPaths: [STRIPE_WEBHOOK_PATH, AGENT_CREDITS_PATH, ...SPEC001_PATHS],
      readiness: agentWallets.readiness,
      onStart: agentWallets.onStart,
      async onStop() {
        await agentWallets.onStop?.();
        await directPool?.end();
      },
    };
  },
};
