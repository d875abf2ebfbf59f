import type { Consumer } from '@platform/service';
import type { Db } from '../../db/client';
import type { AgentsRepository } from '../../db/agents.repository';

/** Plugins may go only onto agents that exist: identity announces each one. */
export function agentRegisteredConsumer(agents: AgentsRepository): Consumer<Db> {
  return {
    name: 'agent-registered',
    types: ['agent.registered'],
    async handle(event, tx) {
      if (event.type !== 'agent.registered') return;
      const d = event.data;
      await agents.apply(tx, { agentId: d.agent_id, ownerId: d.owner_id, displayName: d.display_name, status: d.status, at: new Date(event.time), creation: true });
    },
  };
}
