import path from 'node:path';
import { normalizeAllowHosts } from '@platform/http';
import type { ServiceDefinition } from '@platform/service';
import { createDb, Db } from './db/client';
import { servicesRepository } from './db/services.repository';
import { discoveryRepository } from './db/discovery.repository';
import { usageRepository } from './db/usage.repository';
import { agentsRepository } from './db/agents.repository';
import { pluginsRepository } from './db/plugins.repository';
import { teamsRepository } from './db/teams.repository';
import { createServiceRegistry } from './domain/services.service';
import { createDiscovery } from './domain/discovery.service';
import { createTeams } from './domain/teams.service';
import { createPlugins } from './domain/plugins.service';
import { createProviderPortal } from './domain/provider.service';
import { httpEndpointProbe } from './outbound/endpoint-probe';
import { pluginPublishers, servicePublishers, teamPublishers } from './events/publishers';
import { serviceCalledConsumer } from './events/consumers/service-called.consumer';
import { keyCreatedConsumer } from './events/consumers/key-created.consumer';
import { settlementCompletedConsumer } from './events/consumers/settlement-completed.consumer';
import { agentRegisteredConsumer } from './events/consumers/agent-registered.consumer';
import { agentUpdatedConsumer } from './events/consumers/agent-updated.consumer';
import { servicesRouter } from './http/services.router';
import { discoveryRouter } from './http/discovery.router';
import { templatesRouter } from './http/templates.router';
import { teamsRouter } from './http/teams.router';
import { pluginsRouter } from './http/plugins.router';
import { providerRouter } from './http/provider.router';
import type { Config } from './config';

export const marketplaceService: ServiceDefinition<Db, Config> = {
  name: 'marketplace',
  migrationsDir: path.join(__dirname, '..', 'prisma', 'migrations'),
  createDb,
  build(ctx) {
    const services = servicesRepository(ctx.db);
    const usage = usageRepository(ctx.db);
    const agents = agentsRepository(ctx.db);
    const registry = createServiceRegistry({ repo: services, events: servicePublishers(ctx.outbox) });
    const discovery = createDiscovery({ discovery: discoveryRepository(ctx.db), usage, trendingWindowDays: ctx.config.TRENDING_WINDOW_DAYS });
    const teams = createTeams({ repo: teamsRepository(ctx.db), events: teamPublishers(ctx.outbox) });
    const plugins = createPlugins({ repo: pluginsRepository(ctx.db), agents, events: pluginPublishers(ctx.outbox) });
    const portal = createProviderPortal({
      services,
      usage,
      probe: httpEndpointProbe({ allowHosts: normalizeAllowHosts(ctx.config.OUTBOUND_ALLOW_HOSTS), timeoutMs: ctx.config.ENDPOINT_TEST_TIMEOUT_MS }),
    });
    return {
      mount(app) {
        app.use(servicesRouter({ registry }));
        app.use(discoveryRouter({ discovery }));
        app.use(templatesRouter());
        app.use(teamsRouter({ teams }));
        app.use(pluginsRouter({ plugins }));
        app.use(providerRouter({ portal }));
      },
      consumers: [
        serviceCalledConsumer(usage),
        keyCreatedConsumer(usage),
        settlementCompletedConsumer(usage),
        agentRegisteredConsumer(agents),
        agentUpdatedConsumer(agents),
      ],
    };
  },
};
