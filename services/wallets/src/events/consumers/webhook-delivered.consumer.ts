import type { Consumer } from '@platform/service';
import type { Db } from '../../db/client';
import { consumeForEvent } from './credit-use';

/**
 * Spec 000: a sent webhook costs `webhook_sent` credits (2). webhooks emits `webhook.delivered`
 * once per delivery that reached its receiver (failed attempts are not sent webhooks).
 */
export function webhookDeliveredConsumer(deps: Parameters<typeof consumeForEvent>[0]): Consumer<Db> {
  return {
    name: 'webhook-delivered',
    types: ['webhook.delivered'],
    async handle(event, tx) {
      if (event.type !== 'webhook.delivered') return;
      await consumeForEvent(deps, tx, event, event.data.owner_id, 'webhook_sent');
    },
  };
}
