import path from 'node:path';
import type { ServiceDefinition } from '@platform/service';
import { createDb, Db } from './db/client';
import { ledgerRepository } from './db/ledger.repository';
import { balanceService } from './domain/balances.service';
import { creditService } from './domain/credits.service';
import { walletEvents } from './events/publishers';
import { agentOnboardedConsumer } from './events/consumers/agent-onboarded.consumer';
import { internalRouter } from './http/internal.router';
import { devBalanceRouter } from './http/dev-balance.router';
import type { Config } from './config';

export const walletsService: ServiceDefinition<Db, Config> = {
  name: 'wallets',
  migrationsDir: path.join(__dirname, '..', 'prisma', 'migrations'),
  createDb,
  build(ctx) {
    const ledger = ledgerRepository(ctx.db, { maxConcurrentTx: ctx.config.LEDGER_TX_CONCURRENCY, maxQueuedTx: ctx.config.LEDGER_TX_QUEUE });
    const events = walletEvents(ctx.outbox);
    const balances = balanceService({ ledger, events });
    const credits = creditService({ ledger, events });
    return {
      mount(app) {
        app.use(internalRouter({ balances }));
        if (ctx.config.DEV_ROUTES) app.use(devBalanceRouter({ balances }));
      },
      consumers: [agentOnboardedConsumer(credits)],
    };
  },
};
