import type { Consumer } from '@platform/service';
import type { Db } from '../../db/client';
import type { Tx } from '../../db/ledger.repository';
import type { AgentsRepository } from '../../db/agents.repository';
import { agentEventData } from '../../domain/agents.service';
import type { AgentWalletEvents } from '../publishers';

/**
 * Spec 001: deleting a department moves its agents to "Unassigned" (department_id null),
 * with a wallet.agent.updated for each, in the consumer's transaction (deduplicated by event id).
 */
export function departmentDeletedConsumer(deps: { agents: AgentsRepository; events: AgentWalletEvents }): Consumer<Db> {
  return {
    name: 'department-deleted',
    types: ['department.deleted'],
    async handle(event, sql) {
      if (event.type !== 'department.deleted') return;
      const tx = sql as unknown as Tx;
      const moved = await deps.agents.clearDepartment(tx, event.data.department_id, event.data.org_id);
      for (const a of moved) await deps.events.agentUpdated(tx, agentEventData(a));
    },
  };
}
