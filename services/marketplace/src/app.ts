import path from 'node:path';
import type { ServiceDefinition } from '@platform/service';
import { createDb, Db } from './db/client';
import { servicesRepository } from './db/services.repository';
import { createServiceRegistry } from './domain/services.service';
import { servicePublishers } from './events/publishers';
import { servicesRouter } from './http/services.router';
import type { Config } from './config';

export const marketplaceService: ServiceDefinition<Db, Config> = {
  name: 'marketplace',
  migrationsDir: path.join(__dirname, '..', 'prisma', 'migrations'),
  createDb,
  build(ctx) {
    const registry = createServiceRegistry({ repo: servicesRepository(ctx.db), events: servicePublishers(ctx.outbox) });
    return {
      mount(app) {
        app.use(servicesRouter({ registry }));
      },
    };
  },
};
