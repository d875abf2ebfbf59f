import type { Consumer } from '@platform/service';
import type { Db } from '../../db/client';
import type { AgentsRepository } from '../../db/agents.repository';

export function agentRegisteredConsumer(agents: AgentsRepository): Consumer<Db> {
  return {
    name: 'agent-registered',
    types: ['agent.registered'],
    async handle(event, tx) {
      if (event.type !== 'agent.registered') return;
      const d = event.data;
      await agents.registered(tx, { agentId: d.agent_id, ownerId: d.owner_id, displayName: d.display_name, status: d.status, at: new Date(event.time) });
    },
  };
}
