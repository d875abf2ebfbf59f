import path from 'node:path';
import type { ServiceDefinition } from '@platform/service';
import { createDb, Db } from './db/client';
import { agentsRepository } from './db/agents.repository';
import { createAgentDirectory } from './domain/agents.service';
import { agentRegisteredConsumer } from './events/consumers/agent-registered.consumer';
import { agentUpdatedConsumer } from './events/consumers/agent-updated.consumer';
import { agentsRouter } from './http/agents.router';
import type { Config } from './config';

export const runtimeService: ServiceDefinition<Db, Config> = {
  name: 'runtime',
  migrationsDir: path.join(__dirname, '..', 'prisma', 'migrations'),
  createDb,
  build(ctx) {
    const agents = agentsRepository(ctx.db);
    return {
      mount(app) {
        app.use(agentsRouter({ agents: createAgentDirectory({ repo: agents }) }));
      },
      consumers: [agentRegisteredConsumer(agents), agentUpdatedConsumer(agents)],
    };
  },
};
