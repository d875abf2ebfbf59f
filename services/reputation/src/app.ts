import path from 'node:path';
import type { ServiceDefinition } from '@platform/service';
import { createDb, Db } from './db/client';
import { usageRepository } from './db/usage.repository';
import { serviceCalledConsumer } from './events/consumers/service-called.consumer';
import { reputationRouter } from './http/reputation.router';
import type { Config } from './config';

export const reputationService: ServiceDefinition<Db, Config> = {
  name: 'reputation',
  migrationsDir: path.join(__dirname, '..', 'prisma', 'migrations'),
  createDb,
  build(ctx) {
    const usage = usageRepository(ctx.db);
    return {
      mount(app) {
        app.use(reputationRouter({ usage }));
      },
      consumers: [serviceCalledConsumer(usage)],
    };
  },
};
