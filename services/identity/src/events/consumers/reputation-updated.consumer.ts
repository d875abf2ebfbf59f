import type { Consumer } from '@platform/service';
import type { Db } from '../../db/client';
import type { UnitOfWork } from '../../domain/ports';
import type { AgentsService } from '../../domain/agents.service';

/** Spec 002 `reputation_score` on the agent object comes from the reputation service. */
export function reputationUpdatedConsumer(deps: { uow: UnitOfWork; agents: AgentsService }): Consumer<Db> {
  return {
    name: 'reputation-updated',
    types: ['reputation.updated'],
    async handle(event, tx) {
      if (event.type !== 'reputation.updated') return;
      await deps.agents.applyReputation(deps.uow.within(tx), event.data);
    },
  };
}
