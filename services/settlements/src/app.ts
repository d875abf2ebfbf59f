import path from 'node:path';
import type { ServiceDefinition } from '@platform/service';
import { createDb, Db } from './db/client';
import { providerUsageRepository } from './db/provider-usage.repository';
import { serviceCalledConsumer } from './events/consumers/service-called.consumer';
import { internalRouter } from './http/internal.router';
import type { Config } from './config';

export const settlementsService: ServiceDefinition<Db, Config> = {
  name: 'settlements',
  migrationsDir: path.join(__dirname, '..', 'prisma', 'migrations'),
  createDb,
  build(ctx) {
    const usage = providerUsageRepository(ctx.db);
    return {
      mount(app) {
        app.use(internalRouter({ usage }));
      },
      consumers: [serviceCalledConsumer(usage)],
    };
  },
};
