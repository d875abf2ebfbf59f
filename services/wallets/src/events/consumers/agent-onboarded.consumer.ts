import type { Consumer } from '@platform/service';
import type { Db } from '../../db/client';
import type { CreditService } from '../../domain/credits.service';

/** Spec 000: a self-onboarded agent's organization starts with `free_credits` credits. */
export function agentOnboardedConsumer(credits: CreditService): Consumer<Db> {
  return {
    name: 'agent-onboarded',
    types: ['agent.onboarded'],
    async handle(event, tx) {
      if (event.type !== 'agent.onboarded') return;
      const d = event.data;
      await credits.grantOnboarding(tx, { ownerId: d.owner_id, orgId: d.org_id, credits: d.free_credits, eventId: event.id });
    },
  };
}
