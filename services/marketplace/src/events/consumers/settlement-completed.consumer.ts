import type { Consumer } from '@platform/service';
import type { Db } from '../../db/client';
import type { UsageRepository } from '../../db/usage.repository';

/** The first_settlement onboarding step. */
export function settlementCompletedConsumer(usage: UsageRepository): Consumer<Db> {
  return {
    name: 'settlement-completed',
    types: ['settlement.completed'],
    async handle(event, tx) {
      if (event.type !== 'settlement.completed') return;
      await usage.markMilestone(tx, event.data.provider_id, 'first_settlement_at', new Date(event.time));
    },
  };
}
