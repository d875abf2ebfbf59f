import type { Consumer } from '@platform/service';
import type { Db } from '../../db/client';
import type { UsageRepository } from '../../db/usage.repository';

/** The create_api_key onboarding step: the first key seen for an owner. */
export function keyCreatedConsumer(usage: UsageRepository): Consumer<Db> {
  return {
    name: 'key-created',
    types: ['key.created'],
    async handle(event, tx) {
      if (event.type !== 'key.created') return;
      await usage.markMilestone(tx, event.data.owner_id, 'first_key_at', new Date(event.time));
    },
  };
}
