import type { Consumer } from '@platform/service';
import type { Db } from '../../db/client';
import type { UnitOfWork } from '../../domain/ports';
import type { AgentsService } from '../../domain/agents.service';
import type { DepartmentsService } from '../../domain/departments.service';

const KINDS = { 'wallet.agent.created': 'created', 'wallet.agent.updated': 'updated', 'wallet.agent.deactivated': 'deactivated' } as const;

/**
 * Wallets' agents: their org and department feed department agent counts, and each gets
 * (once) the spec 002 identity with the same id. Idempotent by event id (the service's dedup)
 * and by event time (an older event never overwrites a newer one).
 */
export function walletAgentConsumer(deps: { uow: UnitOfWork; departments: DepartmentsService; agents: AgentsService }): Consumer<Db> {
  return {
    name: 'wallet-agent',
    types: ['wallet.agent.created', 'wallet.agent.updated', 'wallet.agent.deactivated'],
    async handle(event, tx) {
      if (event.type !== 'wallet.agent.created' && event.type !== 'wallet.agent.updated' && event.type !== 'wallet.agent.deactivated') return;
      const kind = KINDS[event.type];
      const stores = deps.uow.within(tx);
      const { applied, before } = await deps.departments.applyWalletAgent(stores, kind, event.data, new Date(event.time));
      if (!applied) return;
      await deps.agents.syncWalletAgent(stores, kind, event.data, before?.name ?? null);
    },
  };
}
