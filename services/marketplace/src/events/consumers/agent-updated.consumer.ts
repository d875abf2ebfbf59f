import type { Consumer } from '@platform/service';
import type { Db } from '../../db/client';
import type { AgentsRepository } from '../../db/agents.repository';

/** Keeps owner and status current: a suspended or deactivated agent installs nothing. */
export function agentUpdatedConsumer(agents: AgentsRepository): Consumer<Db> {
  return {
    name: 'agent-updated',
    types: ['agent.updated'],
    async handle(event, tx) {
      if (event.type !== 'agent.updated') return;
      const d = event.data;
      await agents.apply(tx, { agentId: d.agent_id, ownerId: d.owner_id, displayName: d.display_name, status: d.status, at: new Date(event.time) });
    },
  };
}
